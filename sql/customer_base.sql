-- Customer-base models on the CDNOW 1/10 sample: rfm_summary, BG/NBD,
-- Gamma-Gamma, lifetime value, and their edge cases and errors.
-- Published values: Fader, Hardie & Lee (2005), "Counting Your Customers the
-- Easy Way", Marketing Science 24(2) (BG/NBD); Fader, Hardie & Lee (2005),
-- "RFM and CLV", JMR 42(4) and Fader & Hardie (2013), "The Gamma-Gamma Model
-- of Monetary Value" (Gamma-Gamma).
\set VERBOSITY sqlstate
SET extra_float_digits = 0;
SET TimeZone = 'UTC';

CREATE TEMP TABLE cdnow_tx (master_id int, customer_id int, day date, cds int, amount float8);
\copy cdnow_tx FROM 'data/cdnow/CDNOW_sample.csv' CSV HEADER
CREATE TEMP TABLE cdnow_published (customer_id int, x float8, t_x float8, t float8, zbar float8);
\copy cdnow_published FROM 'data/cdnow/cdnow_customers_summary_with_transactions.csv' CSV HEADER

-- the calibration period ends 1997-09-30; 39 weeks of holdout follow
CREATE TEMP TABLE cdnow AS
SELECT customer_id, (retention.rfm_summary(day, amount, '1997-09-30', 'week')).*
  FROM cdnow_tx GROUP BY customer_id;

-- customer 1 (published: x = 2, t_x = 30.43, T = 38.86, zbar = 22.35)
SELECT frequency, round(recency::numeric, 2) AS recency, round(t::numeric, 2) AS t,
       round(monetary::numeric, 2) AS monetary
  FROM cdnow WHERE customer_id = 1;

-- every one of the 2,357 customers matches the published summary to its two decimals
SELECT count(*) AS customers,
       count(*) FILTER (WHERE c.frequency = p.x
                          AND round(c.recency::numeric, 2) = p.t_x::numeric
                          AND round(c.t::numeric, 2) = p.t::numeric
                          AND round(c.monetary::numeric, 2) = p.zbar::numeric) AS matching
  FROM cdnow c FULL JOIN cdnow_published p USING (customer_id);

-- BG/NBD, published r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
CREATE TEMP TABLE bgnbd AS SELECT retention.bgnbd_fit(frequency, recency, t) AS m FROM cdnow;
SELECT round((m::jsonb ->> 'r')::numeric, 3) AS r,
       round((m::jsonb ->> 'alpha')::numeric, 3) AS alpha,
       round((m::jsonb ->> 'a')::numeric, 3) AS a,
       round((m::jsonb ->> 'b')::numeric, 3) AS b,
       round((m::jsonb ->> 'log_likelihood')::numeric, 1) AS log_likelihood,
       m::jsonb -> 'converged' AS converged, m::jsonb -> 'n' AS n
  FROM bgnbd;
-- standard errors (lifetimes documents 0.01, 0.38, 0.19, 0.71 for this fit)
SELECT round((m::jsonb #>> '{std_err,r}')::numeric, 2) AS se_r,
       round((m::jsonb #>> '{std_err,alpha}')::numeric, 2) AS se_alpha,
       round((m::jsonb #>> '{std_err,a}')::numeric, 2) AS se_a,
       round((m::jsonb #>> '{std_err,b}')::numeric, 2) AS se_b
  FROM bgnbd;

-- the same fit in days: alpha scales by 7, r, a and b do not change
SELECT round((m::jsonb ->> 'r')::numeric, 3) AS r,
       round((m::jsonb ->> 'alpha')::numeric / 7, 3) AS alpha_in_weeks,
       round((m::jsonb ->> 'a')::numeric, 3) AS a,
       round((m::jsonb ->> 'b')::numeric, 3) AS b
  FROM (SELECT retention.bgnbd_fit(frequency, recency, t) AS m
          FROM (SELECT (retention.rfm_summary(day, amount, '1997-09-30', 'day')).*
                  FROM cdnow_tx GROUP BY customer_id) s) f;

-- customer 1 expects 1.226 purchases in the next 39 weeks (FHL 2005, section 5)
SELECT round(retention.bgnbd_expected_purchases(m, 39, 2, 30.43, 38.86)::numeric, 3) AS customer_1,
       round(retention.bgnbd_p_alive(m, 2, 30.43, 38.86)::numeric, 3) AS p_alive_1,
       round(retention.bgnbd_expected_purchases(m, 78)::numeric, 2) AS new_customer_78_weeks
  FROM bgnbd;

-- the published model typed in
SELECT '{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model;
SELECT round(retention.bgnbd_expected_purchases(
           '{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 3);

-- the holdout: 39 weeks after 1997-09-30, purchase days per customer
CREATE TEMP TABLE holdout AS
SELECT c.customer_id, c.frequency,
       retention.bgnbd_expected_purchases(b.m, 39, c.frequency, c.recency, c.t) AS predicted,
       (SELECT count(DISTINCT day) FROM cdnow_tx x
         WHERE x.customer_id = c.customer_id AND x.day > '1997-09-30') AS actual
  FROM cdnow c, bgnbd b;
SELECT round(sum(predicted)) AS predicted, sum(actual) AS actual FROM holdout;
SELECT least(frequency, 7) AS x, count(*) AS customers,
       round(avg(actual), 2) AS actual, round(avg(predicted)::numeric, 2) AS predicted
  FROM holdout GROUP BY 1 ORDER BY 1;

-- heavy buyers give finite answers: x = 200, t_x = 38, T = 40
SELECT round(retention.bgnbd_p_alive(m, 200, 38, 40)::numeric, 4) AS p_alive,
       round(retention.bgnbd_expected_purchases(m, 39, 200, 38, 40)::numeric, 3) AS expected,
       retention.bgnbd_expected_purchases(m, 39, 1000, 38, 40) < 1e-10 AS thousand_is_gone,
       retention.bgnbd_p_alive(m, 200, 40, 40) > 0.99 AS just_bought
  FROM bgnbd;
-- no purchases yet: alive for sure; no time: nothing expected
SELECT retention.bgnbd_p_alive(m, 0, 0, 38.86) AS p_alive_x0,
       retention.bgnbd_expected_purchases(m, 0, 3, 10, 20) AS zero_horizon
  FROM bgnbd;
-- a = 1 is no singularity: the limits from either side agree
SELECT round(retention.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 6) AS a_one,
       round(retention.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1.000001, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 6) AS a_above;
-- long horizons converge; absurd ones are refused
SELECT round(retention.bgnbd_expected_purchases(m, 1e6, 0, 0, 38.86)::numeric, 4) FROM bgnbd;
SELECT retention.bgnbd_expected_purchases(m, 1e9, 0, 0, 38.86) FROM bgnbd;

-- Pareto/NBD on the same data, published r = 0.553, alpha = 10.578, s = 0.606,
-- beta = 11.669, LL = -9595.0 (FHL 2005, section 4; beta has a standard error of 6.2)
CREATE TEMP TABLE pnbd AS SELECT retention.pareto_nbd_fit(frequency, recency, t) AS m FROM cdnow;
SELECT round((m::jsonb ->> 'r')::numeric, 3) AS r,
       round((m::jsonb ->> 'alpha')::numeric, 3) AS alpha,
       round((m::jsonb ->> 's')::numeric, 3) AS s,
       round((m::jsonb ->> 'beta')::numeric, 2) AS beta,
       round((m::jsonb ->> 'log_likelihood')::numeric, 1) AS log_likelihood,
       m::jsonb -> 'converged' AS converged
  FROM pnbd;
SELECT round(retention.pareto_nbd_p_alive(m, 2, 30.43, 38.86)::numeric, 3) AS p_alive_1,
       round(retention.pareto_nbd_expected_purchases(m, 39, 2, 30.43, 38.86)::numeric, 3) AS customer_1,
       round(retention.pareto_nbd_expected_purchases(m, 78)::numeric, 3) AS new_customer_78_weeks,
       round(retention.pareto_nbd_p_alive(m, 200, 38, 40)::numeric, 4) AS p_alive_200,
       round(retention.pareto_nbd_expected_purchases(m, 39, 200, 38, 40)::numeric, 3) AS expected_200
  FROM pnbd;
-- the two models side by side over the holdout
SELECT round(sum(retention.bgnbd_expected_purchases(b.m, 39, c.frequency, c.recency, c.t))) AS bgnbd,
       round(sum(retention.pareto_nbd_expected_purchases(p.m, 39, c.frequency, c.recency, c.t))) AS pareto_nbd,
       (SELECT sum(actual) FROM holdout) AS actual
  FROM cdnow c, bgnbd b, pnbd p;
-- s = 1 is no singularity
SELECT round(retention.pareto_nbd_expected_purchases('{"r": 0.553, "alpha": 10.578, "s": 1, "beta": 11.669}', 39, 2, 30.43, 38.86)::numeric, 6) AS s_one,
       round(retention.pareto_nbd_expected_purchases('{"r": 0.553, "alpha": 10.578, "s": 1.000001, "beta": 11.669}', 39, 2, 30.43, 38.86)::numeric, 6) AS s_above;
SELECT retention.pareto_nbd_fit(x, x, 10) IS NULL AS too_few FROM generate_series(0, 2) x;
SELECT retention.pareto_nbd_fit(2, 11, 10);
SELECT retention.pareto_nbd_p_alive(m, -1, 0, 10) FROM pnbd;
SELECT retention.pareto_nbd_expected_purchases(m, -1, 2, 1, 10) FROM pnbd;
SELECT retention.pareto_nbd_expected_purchases(m, 'Infinity') FROM pnbd;
SELECT '{"r": 0.553, "alpha": 10.578, "s": 0.606}'::retention.pareto_nbd_model;

-- Gamma-Gamma on the 946 repeat customers, published p = 6.25, q = 3.74, v = 15.44
CREATE TEMP TABLE spend AS SELECT retention.gamma_gamma_fit(frequency, monetary) AS m FROM cdnow;
SELECT round((m::jsonb ->> 'p')::numeric, 2) AS p, round((m::jsonb ->> 'q')::numeric, 2) AS q,
       round((m::jsonb ->> 'v')::numeric, 2) AS v, m::jsonb -> 'n' AS n,
       m::jsonb -> 'converged' AS converged
  FROM spend;
-- customer 1 (x = 2, m = 22.35): a weighted mean of the population mean and m
SELECT round(retention.gamma_gamma_expected_spend(m, 2, 22.35)::numeric, 2) AS customer_1,
       round(retention.gamma_gamma_expected_spend(m, 0, 0)::numeric, 2) AS population_mean
  FROM spend;
-- the published model: 6.25 * (15.44 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1) = 375.875 / 15.24 = 24.66
SELECT round(retention.gamma_gamma_expected_spend('{"p": 6.25, "q": 3.74, "v": 15.44}', 2, 22.35)::numeric, 2);

-- lifetime value over a year of 13 four-week periods at 1% per period
SELECT round(retention.customer_lifetime_value(b.m, s.m, 2, 30.43, 38.86, 22.35, 13, 4, 0.01)::numeric, 2) AS clv_1,
       round(retention.customer_lifetime_value(b.m, s.m, 2, 30.43, 38.86, 22.35, 13, 4, 0)::numeric, 2) AS undiscounted,
       round((retention.bgnbd_expected_purchases(b.m, 52, 2, 30.43, 38.86)
              * retention.gamma_gamma_expected_spend(s.m, 2, 22.35))::numeric, 2) AS purchases_times_spend
  FROM bgnbd b, spend s;

-- the customer list, most valuable first
SELECT customer_id, frequency, round(p_alive::numeric, 3) AS p_alive,
       round(expected_purchases::numeric, 2) AS expected_purchases,
       round(expected_spend::numeric, 2) AS expected_spend, round(clv::numeric, 2) AS clv
  FROM retention.customer_base('cdnow', (SELECT m FROM bgnbd), (SELECT m FROM spend), 39, 13, 4, 0.01)
 ORDER BY clv DESC, customer_id LIMIT 5;

-- rfm_summary: same-day purchases collapse, order does not matter, later ones are ignored
SELECT (retention.rfm_summary(ts, amount, '2024-01-31', 'day')).*
  FROM (VALUES ('2024-01-10 09:00+00'::timestamptz, 5.0::float8), ('2024-01-03 12:00+00', 10),
               ('2024-01-10 17:00+00', 7), ('2024-01-01 08:00+00', 20), ('2024-02-01 00:00+00', 99)) v(ts, amount);
-- the observation end's whole day counts, whatever the time of day
SELECT (retention.rfm_summary(ts, 1, '2024-01-31 00:00+00', 'day')).frequency
  FROM (VALUES ('2024-01-01 08:00+00'::timestamptz), ('2024-01-31 23:00+00')) v(ts);
-- calendar days are those of the session TimeZone
SET TimeZone = 'Asia/Tokyo';
SELECT (retention.rfm_summary(ts, 1, '2024-01-31 00:00+00', 'day')).*
  FROM (VALUES ('2024-01-01 08:00+00'::timestamptz), ('2024-01-01 16:00+00')) v(ts);
SET TimeZone = 'UTC';
-- rows with a NULL are ignored; no purchase before the end gives NULL
SELECT (retention.rfm_summary(ts, amount, '2024-01-31', 'week')).*
  FROM (VALUES ('2024-01-01'::timestamptz, 1::float8), (NULL, 2), ('2024-01-15', NULL), ('2024-01-15', 4)) v(ts, amount);
SELECT retention.rfm_summary(ts, 1, '2024-01-31', 'week') IS NULL AS no_purchase
  FROM (VALUES ('2024-02-01'::timestamptz)) v(ts);
SELECT retention.rfm_summary(ts, 1, '2024-01-31', 'week') IS NULL AS no_rows
  FROM (VALUES ('2024-02-01'::timestamptz)) v(ts) WHERE false;

-- fewer customers than parameters: NULL with a notice
SELECT retention.bgnbd_fit(x, x, 10) IS NULL AS too_few FROM generate_series(0, 2) x;
SELECT retention.gamma_gamma_fit(x, 10) IS NULL AS too_few FROM generate_series(0, 2) x;
-- nobody buys again: the likelihood has no strict maximum, and the fit says so
SELECT m::jsonb -> 'converged' AS converged, m::jsonb -> 'std_err' -> 'r' AS se_r
  FROM (SELECT retention.bgnbd_fit(0, 0, t) AS m FROM generate_series(1, 10) t) f;
-- pre-counted groups give the same model as the customers they count
SELECT (SELECT retention.bgnbd_fit(frequency, recency, t, n)::text
          FROM (SELECT frequency, recency, t, count(*) AS n FROM cdnow GROUP BY 1, 2, 3) g)
     = (SELECT m::text FROM bgnbd) AS same_bgnbd,
       (SELECT retention.gamma_gamma_fit(frequency, monetary, n)::text
          FROM (SELECT frequency, monetary, count(*) AS n FROM cdnow GROUP BY 1, 2) g)
     = (SELECT m::text FROM spend) AS same_gamma_gamma;

-- models round-trip through jsonb, as stored in retention.models
SELECT m::jsonb::retention.bgnbd_model::text = m::text AS bgnbd_round_trip FROM bgnbd;
SELECT m::jsonb::retention.gamma_gamma_model::text = m::text AS gamma_gamma_round_trip FROM spend;

-- errors: unknown unit, bad amounts and times, changing settings
SELECT retention.rfm_summary(now(), 1, now(), 'month');
SELECT retention.rfm_summary(now(), 'NaN', now(), 'day');
SELECT retention.rfm_summary('infinity', 1, now(), 'day');
SELECT retention.rfm_summary(ts, 1, ts, 'day') FROM (VALUES ('2024-01-01'::timestamptz), ('2024-01-02')) v(ts);
SELECT retention.rfm_summary(ts, 1, '2024-02-01', u) FROM (VALUES ('2024-01-01'::timestamptz, 'day'), ('2024-01-02', 'week')) v(ts, u);
SELECT retention.rfm_summary(now(), 1, 'infinity', 'day');
-- errors: parameters so extreme that a result overflows
SELECT retention.bgnbd_expected_purchases('{"r": 1e300, "alpha": 1, "a": 1, "b": 1}', 39, 1, 1, 10);
SELECT retention.pareto_nbd_expected_purchases('{"r": 1e300, "alpha": 1e-300, "s": 0.5, "beta": 1e300}', 39);
SELECT retention.gamma_gamma_expected_spend('{"p": 1e300, "q": 2, "v": 1e300}', 0, 0);
-- errors: a summary table without the expected columns
CREATE TEMP TABLE not_summaries (customer_id int, frequency float8);
SELECT * FROM retention.customer_base('not_summaries', (SELECT m FROM bgnbd), (SELECT m FROM spend), 39, 13, 4, 0.01);
-- errors: invalid summaries
SELECT retention.bgnbd_fit(-1, 0, 10);
SELECT retention.bgnbd_fit(1.5, 1, 10);
SELECT retention.bgnbd_fit('NaN', 1, 10);
SELECT retention.bgnbd_fit(1, 'NaN', 10);
SELECT retention.bgnbd_fit(1, -1, 10);
SELECT retention.bgnbd_fit(1, 1, 'Infinity');
SELECT retention.bgnbd_fit(2, 11, 10);
SELECT retention.bgnbd_fit(2, 1, 10, -1);
SELECT retention.bgnbd_p_alive(m, 2, 11, 10) FROM bgnbd;
SELECT retention.bgnbd_expected_purchases(m, -1, 2, 1, 10) FROM bgnbd;
SELECT retention.bgnbd_expected_purchases(m, 'NaN') FROM bgnbd;
SELECT retention.gamma_gamma_fit(2, 0);
SELECT retention.gamma_gamma_fit(2, -5);
SELECT retention.gamma_gamma_fit(2, 10, -1);
SELECT retention.gamma_gamma_expected_spend('{"p": 6.25, "q": 0.5, "v": 15.44}', 0, 0);
SELECT retention.customer_lifetime_value(b.m, s.m, 2, 30.43, 38.86, 22.35, 0, 4, 0.01) FROM bgnbd b, spend s;
SELECT retention.customer_lifetime_value(b.m, s.m, 2, 30.43, 38.86, 22.35, 13, 0, 0.01) FROM bgnbd b, spend s;
SELECT retention.customer_lifetime_value(b.m, s.m, 2, 30.43, 38.86, 22.35, 13, 4, -0.01) FROM bgnbd b, spend s;
-- errors: model text
SELECT '{"r": 0.243, "alpha": 4.414, "a": 0.793}'::retention.bgnbd_model;
SELECT '{"r": -1, "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model;
SELECT '{"r": "x", "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model;
SELECT '[1, 2]'::retention.bgnbd_model;
SELECT 'not json'::retention.bgnbd_model;
SELECT '{"kind": "bgnbd", "p": 1, "q": 2, "v": 3}'::retention.gamma_gamma_model;
-- with full messages, as users see them
\set VERBOSITY default
SELECT retention.rfm_summary(now(), 1, now(), 'month');
SELECT retention.bgnbd_fit(2, 11, 10);
SELECT retention.bgnbd_fit(1.5, 1, 10);
SELECT retention.bgnbd_fit(x, x, 10) FROM generate_series(0, 2) x;
SELECT '{"r": 0.243, "alpha": 4.414, "a": 0.793}'::retention.bgnbd_model;
