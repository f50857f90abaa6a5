-- pgTAP: the lifetime models of issue 18 (MBG/NBD, BG/BB, sBG) against the
-- papers' published estimates and independent scipy fits.
--
-- Published values:
--   [BDF07]  Batislam, Denizel & Filiztekin (2007), "Empirical validation and
--            comparison of models for customer base analysis", IJRM 24(3),
--            201-209: the MBG/NBD likelihood (eq. 6), P(alive) (eq. 11) and
--            expectations (eqs. 9-10).  On the CDNOW 1/10 sample the issue
--            quotes r 0.525, alpha 6.18, a 0.891, b 1.61 (lifetimes'
--            ModifiedBetaGeoFitter).
--   [FHS10]  Fader, Hardie & Shang (2010), "Customer-Base Analysis in a
--            Discrete-Time Noncontractual Setting", Marketing Science 29(6),
--            1086-1108, Table 2 (p. 1093): BG/BB on the 1995 donor cohort,
--            alpha 1.204, beta 0.750, gamma 0.657, delta 2.783, LL -33,225.6.
--   [FH07]   Fader & Hardie (2007), "How to Project Customer Retention",
--            Journal of Interactive Marketing 21(1), 76-90, Table 1 (p. 80)
--            survivors and section "Estimating model parameters" (p. 82):
--            sBG regular alpha 0.704, beta 1.182; high end alpha 0.668,
--            beta 3.806.
--   [SCIPY]  test/customer_base/fixtures/lifetimes_mle.py (scipy BFGS then
--            Nelder-Mead on the same likelihoods), printed in
--            fixtures/lifetimes_mle.out.
BEGIN;
SELECT plan(85);

SET LOCAL client_min_messages = warning;
CREATE TEMP TABLE cdnow (id int, x float8, t_x float8, t float8);
\copy cdnow FROM 'data/cdnow/cdnow_customers_summary.csv' CSV HEADER

CREATE FUNCTION pg_temp.rel(got float8, want float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(got - want) / abs(want) $$;

-- MBG/NBD -------------------------------------------------------------------
CREATE TEMP TABLE mbg AS SELECT retention.mbgnbd_fit(x, t_x, t) AS m FROM cdnow;
CREATE TEMP TABLE mbgj AS SELECT m::jsonb AS j FROM mbg;

SELECT ok(pg_temp.rel((j->>'r')::float8, 0.525) < 1e-3, 'MBG/NBD r matches 0.525 [BDF07]') FROM mbgj;
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 6.18) < 1e-3, 'MBG/NBD alpha matches 6.18 [BDF07]') FROM mbgj;
SELECT ok(pg_temp.rel((j->>'a')::float8, 0.891) < 1e-3, 'MBG/NBD a matches 0.891 [BDF07]') FROM mbgj;
-- 1.61 is b = 1.6140 rounded to two decimals (0.25% away): compare b with
-- the third decimal of the independent fit
SELECT ok(pg_temp.rel((j->>'b')::float8, 1.614) < 1e-3, 'MBG/NBD b matches 1.614 [SCIPY]') FROM mbgj;
SELECT ok(pg_temp.rel((j->>'r')::float8, 0.5248379165) < 1e-5
          AND pg_temp.rel((j->>'alpha')::float8, 6.182992093) < 1e-5
          AND pg_temp.rel((j->>'a')::float8, 0.8913563353) < 1e-5
          AND pg_temp.rel((j->>'b')::float8, 1.614000057) < 1e-5,
          'MBG/NBD parameters match the scipy fit to 1e-5 [SCIPY]') FROM mbgj;
SELECT ok(abs((j->>'log_likelihood')::float8 - (-9582.1326848999)) < 1e-6,
          'MBG/NBD log-likelihood -9582.1326849 [SCIPY]') FROM mbgj;
SELECT ok((j->>'converged')::boolean AND (j->'std_err'->>'b')::float8 > 0,
          'MBG/NBD fit converged with standard errors') FROM mbgj;

-- predictions at fixed parameters against scipy's hyp2f1 [SCIPY], [BDF07]
CREATE TEMP TABLE mbgfix AS
SELECT '{"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}'::retention.mbgnbd_model AS m;
SELECT ok(pg_temp.rel(retention.mbgnbd_p_alive(m, 2, 30.43, 38.86), 0.706202265118487) < 1e-12
      AND pg_temp.rel(retention.mbgnbd_p_alive(m, 0, 0, 38.86), 0.389735080918763) < 1e-12
      AND pg_temp.rel(retention.mbgnbd_p_alive(m, 30, 38, 38.86), 0.951688380527927) < 1e-12,
          'MBG/NBD P(alive) [SCIPY]') FROM mbgfix;
SELECT ok(pg_temp.rel(retention.mbgnbd_expected_purchases(m, 39, 2, 30.43, 38.86), 1.26296062326734) < 1e-10
      AND pg_temp.rel(retention.mbgnbd_expected_purchases(m, 39, 0, 0, 38.86), 0.154012746675146) < 1e-10
      AND pg_temp.rel(retention.mbgnbd_expected_purchases(m, 52, 30, 38, 38.86), 23.6428600731758) < 1e-10,
          'MBG/NBD conditional expected purchases [SCIPY]') FROM mbgfix;
SELECT ok(pg_temp.rel(retention.mbgnbd_expected_purchases(m, 39), 1.18295366559717) < 1e-10
      AND pg_temp.rel(retention.mbgnbd_expected_purchases(m, 78), 1.80475757755313) < 1e-10,
          'MBG/NBD expected purchases of a new customer [SCIPY]') FROM mbgfix;
SELECT is(retention.mbgnbd_expected_purchases(m, 0, 2, 30.43, 38.86), 0::float8,
          'a zero horizon expects nothing') FROM mbgfix;
-- the counted form, and a one-time buyer's recency is ignored as in bgnbd
SELECT is((SELECT retention.mbgnbd_fit(x, t_x, t, n)::text
             FROM (SELECT x, t_x, t, count(*) AS n FROM cdnow GROUP BY 1, 2, 3) g),
          (SELECT m::text FROM mbg), 'the counted form gives the same model');
SELECT is((SELECT m::text::retention.mbgnbd_model::text FROM mbg), (SELECT m::text FROM mbg),
          'text round trip');

-- binary I/O through COPY (FORMAT binary): pg_temp.copy_in(type, payload)
-- writes a one-row, one-column binary COPY file holding payload and reads it
-- into a column of that type, so recv sees exactly the bytes we choose
CREATE TEMP TABLE copy_target (v text);
CREATE FUNCTION pg_temp.copy_in(typ regtype, payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo oid;
    result text;
BEGIN
    lo := pg_catalog.lo_from_bytea(0,
        '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
        || '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
    PERFORM pg_catalog.lo_export(lo, '/tmp/retention_lifetimes_copy.bin');
    PERFORM pg_catalog.lo_unlink(lo);
    EXECUTE format('CREATE TEMP TABLE copy_one (v %s) ON COMMIT DROP', typ);
    COPY copy_one FROM '/tmp/retention_lifetimes_copy.bin' (FORMAT binary);
    SELECT v::text INTO result FROM copy_one;
    DROP TABLE copy_one;
    RETURN result;
END $$;
SELECT is((SELECT pg_temp.copy_in('retention.mbgnbd_model', retention.mbgnbd_model_send(m)) FROM mbg),
          (SELECT m::text FROM mbg), 'binary round trip');
SELECT is((SELECT pg_temp.copy_in('retention.mbgnbd_model', retention.mbgnbd_model_send(m)) FROM mbgfix),
          (SELECT m::text FROM mbgfix), 'binary round trip of a typed-in model');
SELECT is(substr(retention.mbgnbd_model_send(m), 1, 8), '\x5254425900000001'::bytea,
          'the binary form starts with the magic number and version 1') FROM mbg;

-- hostile binary values: real values, mutated (layout: magic, version, kind,
-- flags, iterations as int4; n, log-likelihood, 4 parameters, 4 standard
-- errors as float8)
CREATE TEMP TABLE mbgbin AS SELECT retention.mbgnbd_model_send(m) AS b FROM mbg;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing '\x00000000'::bytea from 1)),
                 '22P03', NULL, 'binary: a wrong magic number is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing '\x00000002'::bytea from 5)),
                 '22P03', NULL, 'binary: an unknown format version is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing '\x00000001'::bytea from 9)),
                 '22P03', NULL, 'binary: a BG/NBD kind in an MBG/NBD value is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing '\x00000002'::bytea from 13)),
                 '22P03', NULL, 'binary: converged without fitted is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        substr(b, 1, length(b) - 1)),
                 '22P03', NULL, 'binary: a truncated value is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        b || '\x00'::bytea),
                 '22P03', NULL, 'binary: trailing bytes are rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing float8send(-1) from 37)),
                 '22023', NULL, 'binary: a negative parameter is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing float8send('NaN') from 45)),
                 '22023', NULL, 'binary: a NaN parameter is rejected') FROM mbgbin;
SELECT throws_ok(format($q$SELECT pg_temp.copy_in('retention.mbgnbd_model', %L)$q$,
                        overlay(b placing float8send('Infinity') from 69)),
                 '22P03', NULL, 'binary: an infinite standard error is rejected') FROM mbgbin;
SELECT ok(pg_temp.copy_in('retention.mbgnbd_model', overlay(b placing float8send('NaN') from 69))
          LIKE '%"std_err": {"r": null,%',
          'binary: a NaN standard error (unknown) is accepted, as null is in text') FROM mbgbin;

-- errors of the MBG/NBD functions
SELECT throws_ok($q$SELECT retention.mbgnbd_p_alive(m, -1, 0, 10) FROM mbgfix$q$, '22023', NULL,
                 'MBG/NBD: a negative frequency is an error');
SELECT throws_ok($q$SELECT retention.mbgnbd_p_alive(m, 1, 11, 10) FROM mbgfix$q$, '22023', NULL,
                 'MBG/NBD: recency after t is an error');
SELECT throws_ok($q$SELECT retention.mbgnbd_expected_purchases(m, 'infinity', 1, 5, 10) FROM mbgfix$q$, '22023', NULL,
                 'MBG/NBD: an infinite horizon is an error');
SELECT throws_ok($q$SELECT '{"r": 0.5, "alpha": -1, "a": 1, "b": 1}'::retention.mbgnbd_model$q$, '22023', NULL,
                 'MBG/NBD: a negative parameter in JSON is an error');
SELECT throws_ok($q$SELECT '{"kind": "bgnbd", "r": 0.5, "alpha": 1, "a": 1, "b": 1}'::retention.mbgnbd_model$q$, '22P02', NULL,
                 'MBG/NBD: a BG/NBD model is not an MBG/NBD model');
SELECT is((SELECT retention.mbgnbd_fit(x, t_x, t) FROM (VALUES (1::float8, 1::float8, 2::float8)) v(x, t_x, t))::text,
          NULL, 'MBG/NBD: too few customers give NULL');
-- nobody buys again: the maximum is on the edge (r -> 0), no crash
SET LOCAL client_min_messages = error;  -- the fit's WARNING is expected
SELECT ok((SELECT retention.mbgnbd_fit(0, 0, t) FROM generate_series(1, 50) t) IS NOT NULL,
          'MBG/NBD: no repeat purchases still returns a (non-converged) model');
SET LOCAL client_min_messages = warning;

-- BG/BB ---------------------------------------------------------------------
CREATE TEMP TABLE donations (x int, t_x int, n int, w bigint);
\copy donations FROM 'test/customer_base/fixtures/donations.csv' CSV HEADER
CREATE TEMP TABLE bgbbj AS SELECT retention.bgbb_fit(x, t_x, n, w)::jsonb AS j FROM donations;
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 1.204) < 1e-3 AND pg_temp.rel((j->>'beta')::float8, 0.750) < 1e-3
      AND pg_temp.rel((j->>'gamma')::float8, 0.657) < 1e-3 AND pg_temp.rel((j->>'delta')::float8, 2.783) < 1e-3,
          'BG/BB donor cohort: alpha 1.204, beta 0.750, gamma 0.657, delta 2.783 [FHS10 Table 2]') FROM bgbbj;
SELECT ok(abs((j->>'log_likelihood')::float8 - (-33225.6)) < 0.05, 'BG/BB log-likelihood -33,225.6 [FHS10]') FROM bgbbj;
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 1.203522312) < 1e-6 AND pg_temp.rel((j->>'beta')::float8, 0.7497163353) < 1e-6
      AND pg_temp.rel((j->>'gamma')::float8, 0.6567182263) < 1e-6 AND pg_temp.rel((j->>'delta')::float8, 2.783442317) < 1e-6,
          'BG/BB parameters match the scipy fit to 1e-6 [SCIPY]') FROM bgbbj;
-- one row per donor gives the same model as the pattern counts
SELECT is((SELECT retention.bgbb_fit(x, t_x, n)::text FROM donations, generate_series(1, w)),
          (SELECT retention.bgbb_fit(x, t_x, n, w)::text FROM donations), 'BG/BB: one row per donor = counted patterns');
CREATE TEMP TABLE bgbbfix AS
SELECT '{"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}'::retention.bgbb_model AS m;
SELECT ok(pg_temp.rel(retention.bgbb_p_alive(m, 6, 6, 6), 0.930402542372882) < 1e-12
      AND pg_temp.rel(retention.bgbb_p_alive(m, 3, 4, 6), 0.439462857055757) < 1e-12
      AND pg_temp.rel(retention.bgbb_p_alive(m, 0, 0, 6), 0.108016584168674) < 1e-12
      AND pg_temp.rel(retention.bgbb_p_alive(m, 0, 0, 0), 0.809011627906977) < 1e-12,
          'BG/BB P(alive) [SCIPY]') FROM bgbbfix;
SELECT ok(pg_temp.rel(retention.bgbb_expected_transactions(m, 5, 6, 6, 6), 3.75211560759981) < 1e-11
      AND pg_temp.rel(retention.bgbb_expected_transactions(m, 5, 3, 4, 6), 1.0342284984211) < 1e-11
      AND pg_temp.rel(retention.bgbb_expected_transactions(m, 10, 0, 0, 6), 0.130103791412848) < 1e-11
      AND pg_temp.rel(retention.bgbb_expected_transactions(m, 3, 1, 1, 6), 0.0542418897212167) < 1e-11
      AND pg_temp.rel(retention.bgbb_expected_transactions(m, 5, 0, 0, 0), 1.93770720828504) < 1e-11,
          'BG/BB expected transactions, summed opportunity by opportunity [SCIPY]') FROM bgbbfix;
-- gamma = 1 is no singularity: the value is continuous through it
SELECT ok(abs(retention.bgbb_expected_transactions('{"alpha": 1.2, "beta": 0.75, "gamma": 1, "delta": 2.8}', 5, 3, 4, 6)
            - retention.bgbb_expected_transactions('{"alpha": 1.2, "beta": 0.75, "gamma": 1.0000001, "delta": 2.8}', 5, 3, 4, 6)) < 1e-7,
          'BG/BB expected transactions are continuous through gamma = 1');
SELECT throws_ok($q$SELECT retention.bgbb_p_alive(m, 3, 2, 6) FROM bgbbfix$q$, '22023', NULL,
                 'BG/BB: recency below frequency is an error');
SELECT throws_ok($q$SELECT retention.bgbb_p_alive(m, 0, 2, 6) FROM bgbbfix$q$, '22023', NULL,
                 'BG/BB: recency without transactions is an error');
SELECT throws_ok($q$SELECT retention.bgbb_p_alive(m, 7, 7, 6) FROM bgbbfix$q$, '22023', NULL,
                 'BG/BB: more transactions than opportunities is an error');
SELECT throws_ok($q$SELECT retention.bgbb_fit(1, 1, 2000000000) FROM bgbbfix$q$, '22023', NULL,
                 'BG/BB: a huge number of opportunities is an error, not a long loop');
SELECT throws_ok($q$SELECT retention.bgbb_expected_transactions(m, -1, 1, 1, 6) FROM bgbbfix$q$, '22023', NULL,
                 'BG/BB: a negative horizon is an error');
SELECT throws_ok($q$SELECT retention.bgbb_fit(x, t_x, n, -w) FROM donations$q$, '22023', NULL,
                 'BG/BB: a negative count is an error');

-- sBG -----------------------------------------------------------------------
-- [FH07] Table 1: survivors of 1,000 customers at years 0..7
CREATE TEMP TABLE survivors (cohort text, year int, alive int);
INSERT INTO survivors
SELECT 'regular', y - 1, (ARRAY[1000, 631, 468, 382, 326, 289, 262, 241])[y] FROM generate_series(1, 8) y
UNION ALL
SELECT 'highend', y - 1, (ARRAY[1000, 869, 743, 653, 593, 551, 517, 491])[y] FROM generate_series(1, 8) y;
-- lost in year t: (t, true); still active after 7 years: (7, false)
CREATE TEMP TABLE sbg_data AS
SELECT s.cohort, s.year AS periods, true AS churned, (p.alive - s.alive)::bigint AS customers
  FROM survivors s JOIN survivors p ON p.cohort = s.cohort AND p.year = s.year - 1
UNION ALL
SELECT cohort, 7, false, alive::bigint FROM survivors WHERE year = 7;
CREATE TEMP TABLE sbgj AS
SELECT cohort, retention.sbg_fit(periods, churned, customers)::jsonb AS j FROM sbg_data GROUP BY cohort;
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 0.704) < 1e-3 AND pg_temp.rel((j->>'beta')::float8, 1.182) < 1e-3,
          'sBG regular cohort: alpha 0.704, beta 1.182 [FH07 p. 82]') FROM sbgj WHERE cohort = 'regular';
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 0.668) < 1e-3 AND pg_temp.rel((j->>'beta')::float8, 3.806) < 1e-3,
          'sBG high-end cohort: alpha 0.668, beta 3.806 [FH07 p. 82]') FROM sbgj WHERE cohort = 'highend';
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 0.7040772897) < 1e-6 AND pg_temp.rel((j->>'beta')::float8, 1.182043001) < 1e-6
      AND abs((j->>'log_likelihood')::float8 - (-1680.2651884633)) < 1e-6,
          'sBG regular cohort matches the scipy fit to 1e-6 [SCIPY]') FROM sbgj WHERE cohort = 'regular';
SELECT ok(pg_temp.rel((j->>'alpha')::float8, 0.6680883269) < 1e-6 AND pg_temp.rel((j->>'beta')::float8, 3.806094708) < 1e-6
      AND abs((j->>'log_likelihood')::float8 - (-1611.1581473912)) < 1e-6,
          'sBG high-end cohort matches the scipy fit to 1e-6 [SCIPY]') FROM sbgj WHERE cohort = 'highend';
-- one row per customer, in two parallel-mergeable halves, gives the same model
SELECT is((SELECT retention.sbg_fit(periods, churned)::text
             FROM sbg_data, generate_series(1, customers) WHERE cohort = 'regular'),
          (SELECT retention.sbg_fit(periods, churned, customers)::text FROM sbg_data WHERE cohort = 'regular'),
          'sBG: one row per customer = counted groups');
CREATE TEMP TABLE sbgfix AS SELECT '{"alpha": 0.704, "beta": 1.182}'::retention.sbg_model AS m;
SELECT is((SELECT count(*)::int FROM sbgfix, unnest('{1, 0.626723223753977, 0.473842714563817, 0.387999875898628, 0.332094858986505, 0.292374372964334, 0.2624830632683, 0.239050641693244, 0.220111675707194, 0.204437123846192, 0.191216130351086, 0.17989052411121, 0.17006257680605}'::float8[]) WITH ORDINALITY AS r(s, i)
             WHERE pg_temp.rel(retention.sbg_survival(m, (i - 1)::int), s) < 1e-12), 13,
          'sBG survival S(0..12), projected beyond the 7 observed years [SCIPY]');
SELECT is((SELECT count(*)::int FROM sbgfix, unnest('{0.626723223753977, 0.756063756063756, 0.818836850231601, 0.855914858780188, 0.880394155623513, 0.89776357827476, 0.910727872178544, 0.920774251631781, 0.928788185312563, 0.935329781370568, 0.940770654551573, 0.945367065031818}'::float8[]) WITH ORDINALITY AS r(s, i)
             WHERE pg_temp.rel(retention.sbg_retention_rate(m, i::int), s) < 1e-12), 12,
          'sBG retention rates r_1..r_12 rise with tenure [SCIPY]');
SELECT ok(pg_temp.rel(retention.sbg_residual_lifetime(m, 0.10), 2.96466214613203) < 1e-10
      AND pg_temp.rel(retention.sbg_residual_lifetime(m, 0.10, 4), 5.89442285984415) < 1e-10
      AND pg_temp.rel(retention.sbg_residual_lifetime(m, 0.05), 4.15646697821205) < 1e-10
      AND pg_temp.rel(retention.sbg_residual_lifetime(m, 1.0, 10), 1.78949074561019) < 1e-10,
          'sBG discounted expected residual lifetime = the direct discounted sum [SCIPY]') FROM sbgfix;
SELECT results_eq($q$SELECT period, round(survival::numeric, 6), round(retention_rate::numeric, 6)
                       FROM retention.sbg_projection((SELECT m FROM sbgfix), 2)$q$,
                  $q$VALUES (0, 1.000000, NULL::numeric), (1, 0.626723, 0.626723), (2, 0.473843, 0.756064)$q$,
                  'sbg_projection: one row per period');
SELECT throws_ok($q$SELECT retention.sbg_fit(0, true)$q$, '22023', NULL, 'sBG: churn in period 0 is an error');
SELECT throws_ok($q$SELECT retention.sbg_fit(-1, false)$q$, '22023', NULL, 'sBG: negative periods are an error');
SELECT throws_ok($q$SELECT retention.sbg_residual_lifetime(m, 0) FROM sbgfix$q$, '22023', NULL,
                 'sBG: no discount is an error (the lifetime can be infinite)');
SELECT throws_ok($q$SELECT retention.sbg_retention_rate(m, 0) FROM sbgfix$q$, '22023', NULL,
                 'sBG: there is no retention rate of period 0');
SELECT is((SELECT retention.sbg_fit(3, false, 100))::text, NULL, 'sBG: nobody churned gives NULL');
SELECT is((SELECT retention.sbg_fit(1, true, 100))::text, NULL, 'sBG: nobody renewed gives NULL');
SELECT is((SELECT retention.sbg_fit(periods, churned)::text FROM sbg_data WHERE false), NULL, 'sBG: no rows give NULL');

-- the registry keeps every model kind as its jsonb form -------------------------
SELECT retention.save_model('lt_mbgnbd', 'mbgnbd', m::jsonb) FROM mbg;
SELECT retention.save_model('lt_bgbb', 'bgbb', j) FROM bgbbj;
SELECT retention.save_model('lt_sbg', 'sbg', j) FROM sbgj WHERE cohort = 'regular';
SELECT is((SELECT model::retention.mbgnbd_model::text FROM retention.models WHERE name = 'lt_mbgnbd'),
          (SELECT m::text FROM mbg), 'registry: an MBG/NBD model comes back from retention.models unchanged');
SELECT is((SELECT model::retention.bgbb_model::jsonb FROM retention.models WHERE name = 'lt_bgbb'),
          (SELECT j FROM bgbbj), 'registry: a BG/BB model comes back unchanged');
SELECT is((SELECT model::retention.sbg_model::jsonb FROM retention.models WHERE name = 'lt_sbg'),
          (SELECT j FROM sbgj WHERE cohort = 'regular'), 'registry: an sBG model comes back unchanged');

-- cohort projection ----------------------------------------------------------
-- the two cohorts of [FH07] Table 1 as a survivor matrix (start day, size,
-- retained at 0..7; the high-end cohort observed one year less)
CREATE TEMP TABLE proj AS
SELECT * FROM retention.cohort_projection(
  '{{0, 1000, 1000, 631, 468, 382, 326, 289, 262, 241}, {365, 1000, 1000, 869, 743, 653, 593, 551, 517, NULL}}', 12);
SELECT is((SELECT count(*)::int FROM proj WHERE NOT projected), 15, 'projection: the 15 observed rows are kept');
SELECT is((SELECT count(*)::int FROM proj WHERE projected), 11, 'projection: periods 8..12 and 7..12 are projected');
SELECT ok((SELECT bool_and(a.retained > b.retained) FROM proj a JOIN proj b
             ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1 WHERE b.projected),
          'projection: projected survivors keep falling');
-- a single cohort is the sBG fit of [FH07]: period 12 = 241 S(12)/S(7) at alpha 0.704, beta 1.182
SELECT ok(pg_temp.rel(retained, 241 * 0.17006257680605 / 0.239050641693244) < 1e-3,
          'projection: the regular cohort at year 12 follows the sBG model [FH07] [SCIPY]')
  FROM retention.cohort_projection('{{0, 1000, 1000, 631, 468, 382, 326, 289, 262, 241}}', 12)
 WHERE period_number = 12;
SELECT throws_ok($q$SELECT * FROM retention.cohort_projection('{{0, 100, 100, 50, 60}}', 5)$q$, '22023',
                 'cohort 2000-01-01 retains more customers in period 2 than in period 1',
                 'projection: counts that rise (classic retention) are an error with a hint');
SELECT is((SELECT count(*)::int FROM retention.cohort_projection('{{0, 100, 100, 100, 100}}', 5) WHERE projected), 0,
          'projection: without any churn there is no model and nothing is projected');

-- declarations ------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc
            WHERE pronamespace = 'retention'::regnamespace
              AND proname ~ '^(mbgnbd|bgbb|sbg|km_fit|survival_|logrank|coxph|cohort_projection)'
              AND (proparallel <> 's' OR obj_description(oid, 'pg_proc') IS NULL)),
          0, 'every new function is PARALLEL SAFE and has a comment');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
            WHERE p.pronamespace = 'retention'::regnamespace
              AND p.proname IN ('mbgnbd_fit', 'bgbb_fit', 'sbg_fit', 'km_fit', 'coxph_train')
              AND a.aggcombinefn <> 0
              AND (a.aggtranstype = 'retention.agg_state'::regtype
                   OR (a.aggserialfn <> 0 AND a.aggdeserialfn <> 0))),
          10, 'all ten new aggregates have a combine function and a state that crosses processes (agg_state, or serialise and deserialise functions)');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
            WHERE p.pronamespace = 'retention'::regnamespace
              AND p.proname IN ('mbgnbd_fit', 'bgbb_fit', 'sbg_fit', 'km_fit')
              AND a.aggtranstype = 'retention.agg_state'::regtype),
          8, 'the eight forms of mbgnbd_fit, bgbb_fit, sbg_fit and km_fit have an agg_state, which Citus pushes down');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc
            WHERE pronamespace = 'retention'::regnamespace
              AND proname IN ('mbgnbd_p_alive', 'mbgnbd_expected_purchases', 'bgbb_p_alive',
                              'bgbb_expected_transactions', 'sbg_survival', 'sbg_retention_rate',
                              'sbg_residual_lifetime', 'survival_at', 'survival_median', 'logrank_test',
                              'coxph_relative_hazard', 'coxph_survival')
              AND (provolatile <> 'i' OR NOT proisstrict)),
          0, 'the scoring functions are IMMUTABLE and STRICT');

-- parallel plans give the same models as serial ones -------------------------
CREATE TABLE par_cdnow AS SELECT c.* FROM cdnow c, generate_series(1, 50);
CREATE TABLE par_donations AS SELECT d.x, d.t_x, d.n FROM donations d, generate_series(1, w);
ALTER TABLE par_cdnow SET (parallel_workers = 2);
ALTER TABLE par_donations SET (parallel_workers = 2);
ANALYZE par_cdnow, par_donations;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS
SELECT (SELECT retention.mbgnbd_fit(x, t_x, t)::text FROM par_cdnow) AS mbg,
       (SELECT retention.bgbb_fit(x, t_x, n)::text FROM par_donations) AS bgbb,
       (SELECT retention.sbg_fit(t_x + 1, x < 3)::text FROM par_donations) AS sbg;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT matches(pg_temp.plan_of('SELECT retention.bgbb_fit(x, t_x, n) FROM par_donations'),
               'Partial Aggregate', 'bgbb_fit runs as a parallel partial aggregate');
SELECT is((SELECT retention.mbgnbd_fit(x, t_x, t)::text FROM par_cdnow), mbg, 'mbgnbd_fit: parallel = serial') FROM serial;
SELECT is((SELECT retention.bgbb_fit(x, t_x, n)::text FROM par_donations), bgbb, 'bgbb_fit: parallel = serial') FROM serial;
SELECT is((SELECT retention.sbg_fit(t_x + 1, x < 3)::text FROM par_donations), sbg, 'sbg_fit: parallel = serial') FROM serial;
RESET max_parallel_workers_per_gather;

-- a role with only USAGE on the schema can fit and score, with hostile input -------
CREATE ROLE retention_lifetimes_user;
GRANT USAGE ON SCHEMA retention TO retention_lifetimes_user;
GRANT SELECT ON donations, cdnow TO retention_lifetimes_user;
SET LOCAL ROLE retention_lifetimes_user;
SELECT lives_ok($q$SELECT retention.bgbb_p_alive(retention.bgbb_fit(x, t_x, n, w), 3, 4, 6) FROM donations$q$,
                'an unprivileged role fits and scores BG/BB');
SELECT lives_ok($q$SELECT retention.mbgnbd_p_alive(retention.mbgnbd_fit(x, t_x, t), 1, 2, 3) FROM cdnow$q$,
                'an unprivileged role fits and scores MBG/NBD');
SELECT lives_ok($q$SELECT retention.survival_median(retention.km_fit(t, x > 0)) FROM cdnow$q$,
                'an unprivileged role fits Kaplan-Meier');
SELECT throws_ok($q$SELECT retention.bgbb_expected_transactions('{"alpha": 1e300, "beta": 1e-300, "gamma": 1e300, "delta": 1e-300}', 1000000, 1000000, 1000000, 1000000)$q$,
                 NULL, NULL, 'hostile BG/BB parameters give an error, not a crash');
SELECT throws_ok($q$SELECT retention.sbg_residual_lifetime('{"alpha": 1e-300, "beta": 1e300}', 1e-300)$q$,
                 '22003', NULL, 'a discount too small for the series is an error after a bounded loop');
SELECT throws_ok($q$SELECT retention.coxph_relative_hazard('{"coefficients": [1e308]}', '{1e308}')$q$, '22003', NULL,
                 'a hostile Cox model overflows into an error');
RESET ROLE;
