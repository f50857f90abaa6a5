-- pgTAP: logreg_train against independent references (R glm, scikit-learn,
-- an exact Newton solve in R and numpy), the multi-pass form, parallel
-- aggregation, bad input and the declarations.
--
-- Every expected number below comes from /work/refs/issue3/REFERENCES.md
-- (R 4.2.2 glm with epsilon = 1e-15 and an own Newton solve in R and numpy,
-- agreeing to 1e-13; scikit-learn 1.2.1 LogisticRegression with
-- solver='newton-cholesky', tol=1e-12), or from scikit-learn run by hand for
-- the class-weight fits, as noted at each test.
BEGIN;
SELECT plan(88);
SET client_min_messages = error;  -- the no-optimum cases warn by design

CREATE FUNCTION pg_temp.max_rel_err(got float8[], want float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN pg_catalog.cardinality(got) IS DISTINCT FROM pg_catalog.cardinality(want)
                THEN 'Infinity'::float8
                ELSE (SELECT max(abs(g - w) / abs(w)) FROM unnest(got, want) AS u(g, w)) END
$$;
CREATE FUNCTION pg_temp.rel_err(got float8, want float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(got - want) / abs(want) $$;
CREATE FUNCTION pg_temp.arr(j jsonb) RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$ SELECT array_agg(e::float8 ORDER BY i) FROM jsonb_array_elements_text(j) WITH ORDINALITY AS u(e, i) $$;
-- intercept first, then the coefficients
CREATE FUNCTION pg_temp.terms(m retention.logreg_model) RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$ SELECT (m::jsonb->>'intercept')::float8 || pg_temp.arr(m::jsonb->'coef') $$;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;

\i data/ucla_admissions/load.sql
\i data/telco_churn/load.sql

CREATE TABLE tf AS
SELECT rn, is_test, churn = 1 AS churn,
       ARRAY[gender_male, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines,
             internet_fiber, internet_none, online_security, online_backup, device_protection,
             tech_support, streaming_tv, streaming_movies, contract_one_year, contract_two_year,
             paperless_billing, pay_credit_card, pay_electronic_check, pay_mailed_check,
             monthly_charges, total_charges]::float8[] AS x
  FROM telco_features;
ANALYZE tf;

CREATE TABLE fits AS
SELECT 'ucla' AS name,
       retention.logreg_train(admit = 1, ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[]) AS m
  FROM ucla
UNION ALL
SELECT 'ucla ridge',
       retention.logreg_train(admit = 1, ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[], '{"lambda": 1}')
  FROM ucla
UNION ALL
SELECT 'telco', retention.logreg_train(churn, x) FROM tf
UNION ALL
SELECT 'telco ridge', retention.logreg_train(churn, x, '{"lambda": 1}') FROM tf
UNION ALL
SELECT 'telco train', retention.logreg_train(churn, x) FROM tf WHERE NOT is_test;
CREATE FUNCTION pg_temp.fit(n text) RETURNS retention.logreg_model
LANGUAGE sql AS $$ SELECT m FROM fits WHERE name = n $$;

-- UCLA, unpenalised: R glm(admit ~ gre + gpa + factor(rank), binomial), epsilon = 1e-15
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('ucla')),
    '{-3.9899790733310527,0.0022644257861791617,0.80403754928022708,-0.67544292796356342,-1.3402039164678918,-1.5514636769180725}'),
    '<', 1e-10::float8, 'UCLA coefficients equal R glm (17-digit values) to 1e-10 relative');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('ucla')),
    '{-3.989979073,0.002264425786,0.8040375493,-0.6754429280,-1.340203916,-1.551463677}'),
    '<', 1e-9::float8, 'UCLA coefficients equal the issue''s R values at the 10 digits given');
-- standard errors at the converged Hessian (REFERENCES.md, "SE (exact)")
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'std_err'),
    '{1.13995096205,0.00109399765796,0.331819304565,0.316489663266,0.345306423361,0.417831637472}'),
    '<', 1e-10::float8, 'UCLA standard errors equal the exact inverse-Hessian values (12 digits)');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'std_err'),
    '{1.139950962,0.001093997658,0.3318193046,0.3164896633,0.3453064234,0.4178316375}'),
    '<', 1e-9::float8, 'UCLA standard errors equal the issue''s values');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'z'),
    '{-3.50013220408,2.06986346789,2.42311866193,-2.1341705792,-3.88120181323,-3.71313117002}'),
    '<', 1e-10::float8, 'UCLA z values');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'p_value'),
    '{0.000465027467028,0.0384651318482,0.0153878994015,0.0328288200888,0.00010394154056,0.000204710718317}'),
    '<', 1e-9::float8, 'UCLA normal p-values');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'odds_ratio'),
    ARRAY[exp(-3.9899790733310527), exp(0.0022644257861791617), exp(0.80403754928022708),
          exp(-0.67544292796356342), exp(-1.3402039164678918), exp(-1.5514636769180725)]),
    '<', 1e-10::float8, 'UCLA odds ratios are exp(R coefficients)');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('ucla')::jsonb->>'log_likelihood')::float8, -229.258746238),
    '<', 1e-11::float8, 'UCLA log-likelihood -229.258746238');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('ucla')::jsonb->>'null_log_likelihood')::float8, -249.988258777),
    '<', 1e-11::float8, 'UCLA null log-likelihood (intercept-only glm) -249.988258777');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('ucla')::jsonb->>'aic')::float8, 470.517492476),
    '<', 1e-11::float8, 'UCLA AIC 470.517492476');
SELECT is(pg_temp.fit('ucla')::jsonb->'converged', 'true', 'UCLA converged');
SELECT ok((pg_temp.fit('ucla')::jsonb->>'iterations')::int BETWEEN 4 AND 8,
          'UCLA takes a handful of Newton iterations (glm 4-5, exact Newton 6)');
SELECT is(pg_temp.fit('ucla')::jsonb->'n_rows', '400', 'UCLA n_rows');
SELECT is(pg_temp.fit('ucla')::jsonb->'n_skipped', '0', 'UCLA n_skipped');
SELECT is(pg_temp.fit('ucla')::jsonb->'lambda', '0', 'UCLA lambda');
-- training means: gre 587.7, gpa 3.3899 (hand-computed from binary.csv with awk)
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('ucla')::jsonb->'feature_means'),
    '{587.7,3.3899,0.3775,0.3025,0.1675}'), '<', 1e-14::float8, 'UCLA feature means');

-- UCLA ridge, lambda = 1 = sklearn C = 1, intercept unpenalised
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('ucla ridge')),
    '{-3.9858505780872551,0.0023914515385252827,0.72410787004682242,-0.47079265531997144,-1.0874832609831266,-1.2358490048046693}'),
    '<', 1e-10::float8, 'UCLA lambda = 1 equals scikit-learn newton-cholesky C = 1');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('ucla ridge')::jsonb->>'log_likelihood')::float8, -229.666134022),
    '<', 1e-11::float8, 'UCLA ridge log-likelihood -229.666134022');

-- class weights: scikit-learn 1.2.1, newton-cholesky, tol 1e-14, run by hand
-- class_weight='balanced', C=1
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(retention.logreg_train(admit = 1,
        ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[],
        '{"lambda": 1, "class_weight": "balanced"}')),
    '{-3.3049337634037927,0.0024683560864773107,0.7323264615883641,-0.45927946932612285,-1.085074501237843,-1.2520918890410473}'),
    '<', 1e-10::float8, 'class_weight balanced equals scikit-learn')
  FROM ucla;
-- class_weight={0: 1, 1: 3}, C=0.5
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(retention.logreg_train(admit = 1,
        ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[],
        '{"lambda": 2, "class_weight": {"0": 1, "1": 3}}')),
    '{-3.0125545870116572,0.0025372550166378447,0.7177728299220372,-0.4067758917049208,-1.0271557187707159,-1.1913876912315489}'),
    '<', 1e-10::float8, 'explicit class weights equal scikit-learn')
  FROM ucla;

-- no intercept: scikit-learn fit_intercept=False, C=1, gre in hundreds, run by hand
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(retention.logreg_train(admit = 1,
        ARRAY[gre / 100, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[],
        '{"lambda": 1, "fit_intercept": false}')::jsonb->'coef'),
    '{0.13257996354941654,-0.18501301178507237,-0.7354518941134366,-1.2740008482338283,-1.5233774257184869}'),
    '<', 1e-10::float8, 'fit_intercept false equals scikit-learn')
  FROM ucla;

-- Telco, unpenalised, all 7032 rows: exact Newton (R = numpy = glm eps 1e-15)
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('telco')),
    '{1.1652874867592677,-0.021832732875098206,0.21677503807724632,-0.00038399679244517865,-0.14848782170678332,-0.060587576642059542,0.17146779528057698,0.44839544001388681,1.7474749136920129,-1.7862947298512508,-0.20542003480329421,0.026041850238924569,0.14737499878935115,-0.18049680498515486,0.5905074099545029,0.59929571534052883,-0.6607952886805788,-1.3571062697464189,0.3423536432779698,-0.087791817089064125,0.30446727054623696,-0.057587195010213116,-0.040343528662377601,0.0003289401961254252}'),
    '<', 1e-9::float8, 'Telco coefficients equal the exact Newton solution to 1e-9 relative');
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.arr(pg_temp.fit('telco')::jsonb->'std_err'),
    '{0.81514282132,0.0648049741335,0.0845309511268,0.0778304770112,0.0897322116456,0.00623606919306,0.648697600844,0.177257314482,0.79808622421,0.807275267322,0.178689380199,0.175402661619,0.176375311127,0.180603752395,0.326312170273,0.32668635801,0.107586531814,0.176460440007,0.07449615402,0.114080919105,0.0944974693353,0.114912814643,0.0317553102145,7.06317001607e-05}'),
    '<', 1e-10::float8, 'Telco standard errors (12 digits)');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco')::jsonb->>'log_likelihood')::float8, -2913.13618248),
    '<', 1e-11::float8, 'Telco log-likelihood -2913.13618248');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco')::jsonb->>'null_log_likelihood')::float8, -4071.67757325),
    '<', 1e-11::float8, 'Telco null log-likelihood -4071.67757325');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco')::jsonb->>'aic')::float8, 5874.27236497),
    '<', 1e-11::float8, 'Telco AIC 5874.27236497');
SELECT is(pg_temp.fit('telco')::jsonb->'converged', 'true', 'Telco converged');
SELECT is(pg_temp.fit('telco')::jsonb->'n_rows', '7032', 'Telco n_rows');

-- Telco ridge, lambda = 1: scikit-learn newton-cholesky C = 1 (= numpy Newton to 6e-15)
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('telco ridge')),
    '{0.27263032744036358,-0.023025352000187481,0.21721158816315753,0.0014458372428477642,-0.14994874587789472,-0.060435021118411543,-0.5268660321405394,0.27204061659814993,0.86383819090949276,-0.89487920906423701,-0.37889024888217709,-0.14702375377877011,-0.028011092586595166,-0.35759733446071673,0.23863202478057002,0.24690861288284308,-0.65003298283720523,-1.3169823270850265,0.34503177263920104,-0.088371113223873726,0.30562970515480953,-0.06006056275558104,-0.0050214304035445948,0.00032452533560033717}'),
    '<', 1e-9::float8, 'Telco lambda = 1 equals scikit-learn C = 1 to 1e-9 relative');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco ridge')::jsonb->>'log_likelihood')::float8, -2913.79089174),
    '<', 1e-11::float8, 'Telco ridge log-likelihood -2913.79089174');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco ridge')::jsonb->>'log_likelihood')::float8
                              - 0.5 * (SELECT sum(c * c) FROM unnest(pg_temp.arr(pg_temp.fit('telco ridge')::jsonb->'coef')) c),
                              -2916.17343999),
    '<', 1e-11::float8, 'Telco ridge penalised objective 2916.17343999');

-- Telco train split (rn % 5 <> 0): exact Newton
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(pg_temp.fit('telco train')),
    '{0.59435280183879446,-0.0059707899643659289,0.23714357209577611,0.087037202497188715,-0.1389163712496399,-0.054617643203939047,-0.23605264039888371,0.32151097271539369,1.2639984951068726,-1.2751709027435614,-0.31039965799501079,-0.064940092469544172,0.096259792911459058,-0.28705205584437277,0.42921819666216687,0.35851107171870988,-0.6640690312057892,-1.4550491854674066,0.3203012320649401,-0.067729549974440403,0.28156234573052935,-0.038630051847117951,-0.020016211682605829,0.00026542217433475987}'),
    '<', 1e-9::float8, 'Telco train-split coefficients equal the exact Newton solution');
SELECT cmp_ok(pg_temp.rel_err((pg_temp.fit('telco train')::jsonb->>'log_likelihood')::float8, -2355.9232184),
    '<', 1e-10::float8, 'Telco train log-likelihood -2355.9232184');

-- the multi-pass form reaches the same optimum
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(
    retention.logreg_train_multipass('telco_features', 'churn',
        ARRAY['gender_male', 'senior_citizen', 'partner', 'dependents', 'tenure', 'phone_service',
              'multiple_lines', 'internet_fiber', 'internet_none', 'online_security', 'online_backup',
              'device_protection', 'tech_support', 'streaming_tv', 'streaming_movies', 'contract_one_year',
              'contract_two_year', 'paperless_billing', 'pay_credit_card', 'pay_electronic_check',
              'pay_mailed_check', 'monthly_charges', 'total_charges'], '{"lambda": 1}')),
    '{0.27263032744036358,-0.023025352000187481,0.21721158816315753,0.0014458372428477642,-0.14994874587789472,-0.060435021118411543,-0.5268660321405394,0.27204061659814993,0.86383819090949276,-0.89487920906423701,-0.37889024888217709,-0.14702375377877011,-0.028011092586595166,-0.35759733446071673,0.23863202478057002,0.24690861288284308,-0.65003298283720523,-1.3169823270850265,0.34503177263920104,-0.088371113223873726,0.30562970515480953,-0.06006056275558104,-0.0050214304035445948,0.00032452533560033717}'),
    '<', 1e-9::float8, 'logreg_train_multipass, Telco lambda = 1, equals scikit-learn');
SELECT cmp_ok(pg_temp.max_rel_err(
    pg_temp.arr(retention.logreg_train_multipass('SELECT admit, gre, gpa, (rank = 2)::int AS r2, (rank = 3)::int AS r3, (rank = 4)::int AS r4 FROM ucla',
                                                 'admit', '{gre,gpa,r2,r3,r4}')::jsonb->'std_err'),
    '{1.13995096205,0.00109399765796,0.331819304565,0.316489663266,0.345306423361,0.417831637472}'),
    '<', 1e-10::float8, 'logreg_train_multipass on a query: UCLA standard errors');
SELECT is(retention.logreg_train_multipass('ucla', 'admit', '{gre,gpa}')::jsonb->'feature_names',
          '["gre", "gpa"]', 'logreg_train_multipass names the features after the columns');

-- what Citus does with logreg_step: partial states on two "nodes", shipped as
-- text, combined on the coordinator, equal the state of the whole table (to the
-- rounding of a different summation order: the gradient at the optimum is a sum
-- of terms up to 1e3 that cancels to ~1e-9)
CREATE TABLE shards AS
SELECT (SELECT retention.logreg_step(churn, x, pg_temp.terms(pg_temp.fit('telco')), NULL) FROM tf WHERE rn % 2 = 0)::text AS a,
       (SELECT retention.logreg_step(churn, x, pg_temp.terms(pg_temp.fit('telco')), NULL) FROM tf WHERE rn % 2 = 1)::text AS b,
       (SELECT retention.logreg_step(churn, x, pg_temp.terms(pg_temp.fit('telco')), NULL) FROM tf) AS whole;
SELECT cmp_ok((SELECT max(abs(c - w) / greatest(abs(w), 1))
                 FROM shards, unnest(retention.logreg_step_combine(a::float8[], b::float8[]), whole) AS u(c, w)),
              '<', 1e-9::float8, 'logreg_step: states of two shards, shipped as text and combined, equal the whole');
SELECT cmp_ok((SELECT pg_temp.max_rel_err(pg_temp.arr(retention.logreg_step_model(retention.logreg_step_combine(a::float8[], b::float8[]),
                                                                                 pg_temp.terms(pg_temp.fit('telco')), NULL, 8, true)::jsonb->'std_err'),
    '{0.81514282132,0.0648049741335,0.0845309511268,0.0778304770112,0.0897322116456,0.00623606919306,0.648697600844,0.177257314482,0.79808622421,0.807275267322,0.178689380199,0.175402661619,0.176375311127,0.180603752395,0.326312170273,0.32668635801,0.107586531814,0.176460440007,0.07449615402,0.114080919105,0.0944974693353,0.114912814643,0.0317553102145,7.06317001607e-05}')
                 FROM shards),
              '<', 1e-10::float8, 'logreg_step_model on the combined shards: Telco standard errors');

-- parallel aggregation gives the same model (1e-9) as a serial plan
CREATE TABLE serial AS
SELECT retention.logreg_train(churn, x) AS m, retention.logreg_step(churn, x, pg_temp.terms(pg_temp.fit('telco')), NULL) AS s
  FROM tf;
ALTER TABLE tf SET (parallel_workers = 2);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT matches(pg_temp.plan('SELECT retention.logreg_train(churn, x) FROM tf'),
               'Gather.*Partial Aggregate', 'logreg_train gets a parallel plan');
SELECT matches(pg_temp.plan('SELECT retention.logreg_step(churn, x, NULL, NULL) FROM tf'),
               'Gather.*Partial Aggregate', 'logreg_step gets a parallel plan');
CREATE TABLE parallel AS
SELECT retention.logreg_train(churn, x) AS m, retention.logreg_step(churn, x, pg_temp.terms(pg_temp.fit('telco')), NULL) AS s
  FROM tf;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT cmp_ok((SELECT pg_temp.max_rel_err(pg_temp.terms(p.m), pg_temp.terms(s.m)) FROM parallel p, serial s),
              '<', 1e-9::float8, 'logreg_train: the same coefficients with and without parallel workers');
SELECT cmp_ok((SELECT pg_temp.max_rel_err(pg_temp.arr(p.m::jsonb->'std_err'), pg_temp.arr(s.m::jsonb->'std_err')) FROM parallel p, serial s),
              '<', 1e-9::float8, 'logreg_train: the same standard errors with and without parallel workers');
SELECT cmp_ok((SELECT max(abs(a - b) / greatest(abs(b), 1)) FROM parallel p, serial s, unnest(p.s, s.s) AS u(a, b)),
              '<', 1e-9::float8, 'logreg_step: the same sums with and without parallel workers');

-- bad rows are skipped and counted: NULL label, NULL array, NULL element, NaN, infinities
SELECT is(retention.logreg_train(l, x, '{"lambda": 1}')::jsonb->'n_skipped', '6', 'six bad rows skipped')
  FROM (VALUES (true, '{1,2}'::float8[]), (false, '{2,1}'), (true, '{3,1}'), (false, '{1,3}'),
               (NULL, '{1,1}'), (true, NULL), (true, '{NaN,1}'), (false, '{1,NULL}'),
               (true, '{Infinity,1}'), (false, '{1,-Infinity}')) AS v(l, x);
SELECT is(retention.logreg_train(l, x, '{"lambda": 1}')::jsonb->'n_rows', '4', 'four good rows used')
  FROM (VALUES (true, '{1,2}'::float8[]), (false, '{2,1}'), (true, '{3,1}'), (false, '{1,3}'),
               (NULL, '{1,1}'), (true, NULL), (true, '{NaN,1}'), (false, '{1,NULL}'),
               (true, '{Infinity,1}'), (false, '{1,-Infinity}')) AS v(l, x);
SELECT ok(retention.logreg_train(l, x) IS NULL, 'no rows: NULL')
  FROM (VALUES (true, '{1}'::float8[])) AS v(l, x) WHERE false;
SELECT ok(retention.logreg_train(l, x) IS NULL, 'only skipped rows: NULL')
  FROM (VALUES (NULL::boolean, '{1}'::float8[]), (true, '{NaN}')) AS v(l, x);

-- no optimum: converged = false with a warning, finite numbers, no hang
SELECT is(retention.logreg_train(true, ARRAY[g::float8])::jsonb->'converged', 'false',
          'one class only: not converged')
  FROM generate_series(1, 20) g;
SELECT is(retention.logreg_train(g > 10, ARRAY[g::float8])::jsonb->'converged', 'false',
          'perfectly separable: not converged')
  FROM generate_series(1, 20) g;
SELECT is(retention.logreg_train(g > 10 OR g = 3, ARRAY[g::float8, (g > 10)::int])::jsonb->'converged', 'false',
          'quasi-separable: not converged')
  FROM generate_series(1, 20) g;
-- an outlying row fitted beyond log-odds 37 is not separation: the optimum exists.
-- R: glm(y ~ x, binomial, epsilon = 1e-15) on x = 1..20 (y = x %% 3 == 0 or x > 12, but
-- not 15) plus (1000, TRUE) gives -2.2468634141033803, 0.24155257177462811, with the
-- warning "fitted probabilities numerically 0 or 1 occurred"
CREATE TABLE outlier AS
SELECT g::float8 AS x, ((g % 3 = 0 OR g > 12) AND g <> 15)::int AS y FROM generate_series(1, 20) g
UNION ALL SELECT 1000, 1;
SELECT cmp_ok(pg_temp.max_rel_err(pg_temp.terms(retention.logreg_train(y = 1, ARRAY[x])), '{-2.2468634141033803,0.24155257177462811}'),
              '<', 1e-10::float8, 'an outlying row: the fit equals R glm')
  FROM outlier;
SELECT is(retention.logreg_train(y = 1, ARRAY[x])::jsonb->'converged', 'true', 'an outlying row: converged')
  FROM outlier;
SELECT is(retention.logreg_train_multipass('outlier', 'y', '{x}')::jsonb->'converged', 'true',
          'an outlying row: converged in the multi-pass form too');
SELECT is(retention.logreg_train_multipass('SELECT (g > 10)::int AS y, g AS x FROM generate_series(1, 20) g', 'y', '{x}')::jsonb->'converged',
          'false', 'perfectly separable: not converged in the multi-pass form');
SELECT is(retention.logreg_train(g > 10, ARRAY[g::float8], '{"lambda": 1}')::jsonb->'converged', 'true',
          'separable with lambda > 0: the penalised optimum exists')
  FROM generate_series(1, 20) g;
SELECT is(retention.logreg_train(g > 10, ARRAY[g::float8], '{"max_iter": 2}')::jsonb->'iterations', '2',
          'max_iter bounds the iterations')
  FROM generate_series(1, 20) g;

-- errors and their SQLSTATEs
SELECT throws_ok($$SELECT retention.logreg_train(l, x) FROM (VALUES (true, '{1,2}'::float8[]), (false, '{1,2,3}')) v(l, x)$$,
                 '2202E', 'feature vector has 3 elements but earlier rows have 2', 'different lengths');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g, 2 * g]::float8[]) FROM generate_series(1, 20) g$$,
                 '22000', 'feature 2 is constant or a linear combination of the other features', 'collinear features');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g, 5]::float8[], '{"feature_names": ["orders", "plan"]}') FROM generate_series(1, 20) g$$,
                 '22000', 'feature 2 ("plan") is constant or a linear combination of the other features', 'constant feature, named');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"lamda": 1}') FROM generate_series(1, 20) g$$,
                 '22023', 'unrecognized logreg_train option "lamda"', 'misspelt option');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"lambda": -1}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "lambda"', 'negative lambda');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"feature_names": ["a", "b"]}') FROM generate_series(1, 20) g$$,
                 '22023', 'feature_names has 2 names but the feature vectors have 1 elements', 'feature_names of the wrong length');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"max_memory_mb": 0.001}') FROM generate_series(1, 1000) g$$,
                 '54000', 'logreg_train needs more than its memory limit of 0.001 MB', 'memory bound: a clear error');
SELECT throws_ok($$SELECT retention.logreg_train(true, '{}'::float8[])$$,
                 '22023', 'feature vector must not be empty', 'empty feature vector');
SELECT throws_ok($$SELECT retention.logreg_train(true, '{{1,2},{3,4}}'::float8[])$$,
                 '2202E', 'feature vector must be one-dimensional', 'two-dimensional feature array');

SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"max_iter": 0}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "max_iter"', 'option error: max_iter 0');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"max_iter": 2.5}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "max_iter"', 'option error: fractional max_iter');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"tol": 0}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "tol"', 'option error: tol 0');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"fit_intercept": "yes"}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "fit_intercept"', 'option error: fit_intercept not boolean');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"max_memory_mb": -1}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "max_memory_mb"', 'option error: negative memory limit');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"class_weight": "even"}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "class_weight"', 'option error: unknown class_weight mode');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"class_weight": {"2": 1}}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "class_weight"', 'option error: class_weight for a class that does not exist');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"class_weight": {"1": 0}}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "class_weight"', 'option error: zero class weight');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"lambda": "1"}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "lambda"', 'option error: lambda as a string');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '{"feature_names": [1]}') FROM generate_series(1, 20) g$$,
                 '22023', 'invalid value for logreg_train option "feature_names"', 'option error: feature_names not strings');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g]::float8[], '[1]') FROM generate_series(1, 20) g$$,
                 '22023', 'logreg_train options must be a JSON object', 'option error: options not an object');

-- scaling a feature by 1e150 or 1e-150 scales its coefficient by the inverse and
-- changes nothing else (the Hessian is equilibrated before the Cholesky solve)
SELECT cmp_ok((SELECT max(abs(a - b) / abs(b))
                 FROM (SELECT pg_temp.terms(retention.logreg_train(g % 3 = 0, ARRAY[g * 1e150, g % 5]::float8[])) AS big,
                              pg_temp.terms(retention.logreg_train(g % 3 = 0, ARRAY[g * 1e-150, g % 5]::float8[])) AS small,
                              pg_temp.terms(retention.logreg_train(g % 3 = 0, ARRAY[g, g % 5]::float8[])) AS unit
                         FROM generate_series(1, 20) g) s,
                      unnest(ARRAY[big[1], big[2] * 1e150, big[3], small[1], small[2] * 1e-150, small[3]],
                             ARRAY[unit[1], unit[2], unit[3], unit[1], unit[2], unit[3]]) AS u(a, b)),
              '<', 1e-12::float8, 'features scaled by 1e150 and 1e-150 give the same fit');
SELECT throws_ok($$SELECT retention.logreg_train(g % 3 = 0, ARRAY[g * 1e200, g % 5]::float8[]) FROM generate_series(1, 20) g$$,
                 '22003', 'feature 1 is too large to fit: its sums of squares overflow', 'values near 1e200: a clear error');

SELECT throws_ok($$SELECT retention.logreg_train(true, ARRAY(SELECT 1.0::float8 FROM generate_series(1, 1001)))$$,
                 '54000', 'feature vector has 1001 elements, more than the 1000 a model may have', 'too many features');

-- the multi-pass pieces check their inputs
SELECT throws_ok($$SELECT retention.logreg_step(true, '{1,2}', '{0,0}', NULL)$$,
                 '2202E', 'coefficient vector has 2 elements but 3 were expected', 'logreg_step: coef of the wrong length');
SELECT throws_ok($$SELECT retention.logreg_step(true, '{1,2}', NULL, NULL)$$,
                 '22004', 'coefficients of logreg_step must not be NULL', 'logreg_step: NULL coef');
SELECT throws_ok($$SELECT retention.logreg_step(true, '{1,2}', '{0,0,0}', '{"class_weight": "balanced"}')$$,
                 '0A000', 'logreg_step does not take class_weight "balanced"', 'logreg_step: balanced weights need the driver');
SELECT throws_ok($$SELECT retention.logreg_step_direction('{1,2,3}', '{0}', NULL)$$,
                 '22023', 'invalid logreg_step state', 'logreg_step_direction: not a logreg_step state');
SELECT throws_ok($$SELECT retention.logreg_train_multipass('ucla', 'admit', '{}')$$,
                 '22023', 'feature_columns must name at least one column', 'logreg_train_multipass: no features');

SELECT ok(retention.logreg_step_objective(NULL, '{0}', NULL) IS NULL
          AND retention.logreg_step_direction('{1}', NULL, NULL) IS NULL
          AND retention.logreg_step_model(NULL, '{0}', NULL, 1, true) IS NULL,
          'the multi-pass helpers return NULL for a NULL state or coef');

-- statement_timeout and cancel reach the Newton iterations: 1,000 features, whose
-- first pass alone takes over a second, while reading the rows takes tens of milliseconds
CREATE FUNCTION pg_temp.cancelled(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled: ' || SQLSTATE || ' ' || SQLERRM;
END $$;
SET statement_timeout = '300ms';
SELECT is(pg_temp.cancelled($$SELECT retention.logreg_train(g % 2 = 0, array_fill((g % 13)::float8, ARRAY[1000]))
                                FROM generate_series(1, 15000) g$$),
          'cancelled: 57014 canceling statement due to statement timeout', 'statement_timeout stops a long fit');
RESET statement_timeout;

-- declarations
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
            WHERE p.pronamespace = 'retention'::regnamespace AND p.proname IN ('logreg_train', 'logreg_step')
              AND p.proparallel = 's' AND a.aggcombinefn <> 0
              AND (a.aggtranstype <> 'internal'::regtype OR (a.aggserialfn <> 0 AND a.aggdeserialfn <> 0))
              AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
          3, 'training aggregates: PARALLEL SAFE, combinable, serialisable, documented');
SELECT is((SELECT a.aggtranstype::regtype FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
            WHERE p.pronamespace = 'retention'::regnamespace AND p.proname = 'logreg_step'),
          'float8[]'::regtype, 'logreg_step has a float8[] state Citus can ship');

SELECT * FROM finish();
ROLLBACK;
