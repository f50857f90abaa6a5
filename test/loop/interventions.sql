-- pgTAP: campaigns, keyed assignment and intervention effects.
--   * wilson_interval and newcombe_interval against R (fixtures/newcombe.R,
--     whose first cases are Newcombe 1998, Table II);
--   * assignment_arm against Python's hmac (fixtures/assignment_arms.py);
--   * simulated campaigns whose true effect is known: recovered inside the
--     95% interval, a campaign without effect not significant, and the
--     coverage of the interval over many simulated campaigns close to 95%.
BEGIN;
SELECT plan(34);
SET LOCAL client_min_messages = warning;

-- intervals -------------------------------------------------------------
CREATE TEMP TABLE r_newcombe (x1 bigint, n1 bigint, x0 bigint, n0 bigint, confidence float8,
    difference float8, lower float8, upper float8, p_value float8);
\copy r_newcombe FROM 'test/loop/fixtures/newcombe_r.csv' WITH (FORMAT csv, HEADER true)
SELECT is((SELECT count(*)::int FROM r_newcombe r, retention.newcombe_interval(r.x1, r.n1, r.x0, r.n0, r.confidence) n
            WHERE abs(n.difference - r.difference) < 1e-12 AND abs(n.lower - r.lower) < 1e-9
              AND abs(n.upper - r.upper) < 1e-9 AND abs(n.p_value - r.p_value) <= 1e-9 * greatest(r.p_value, 1e-6)),
          16, 'newcombe_interval equals R for 8 cases at 95% and 90% (limits to 1e-9, p-values to 1e-9 relative)');
-- Newcombe 1998, Table II, method 10, to the four decimals printed there
SELECT is((SELECT array_agg(round(n.lower::numeric, 4) || ' ' || round(n.upper::numeric, 4) ORDER BY c.i)
             FROM (VALUES (1, 56, 70, 48, 80), (2, 9, 10, 3, 10), (3, 5, 56, 0, 29), (4, 0, 10, 0, 20), (5, 10, 10, 0, 20)) c(i, x1, n1, x0, n0),
                  retention.newcombe_interval(c.x1, c.n1, c.x0, c.n0) n),
          '{"0.0524 0.3339","0.1705 0.8090","-0.0381 0.1926","-0.1611 0.2775","0.6791 1.0000"}',
          'Newcombe (1998) Table II, method 10');
-- Wilson: 81 / 263 at 95%, by hand: centre (81 + 1.92) / (263 + 3.84), half-width 1.96 sqrt(81 * 182 / 263 + 0.96) / 266.84
SELECT is((SELECT round(lower::numeric, 6) || ' ' || round(upper::numeric, 6) FROM retention.wilson_interval(81, 263)),
          (SELECT round(((81 + z * z / 2 - z * sqrt(81.0 * 182 / 263 + z * z / 4)) / (263 + z * z))::numeric, 6) || ' ' ||
                  round(((81 + z * z / 2 + z * sqrt(81.0 * 182 / 263 + z * z / 4)) / (263 + z * z))::numeric, 6)
             FROM (SELECT 1.959963984540054::float8 AS z) s),
          'wilson_interval: the score interval by hand');
SELECT ok((SELECT lower = 0 AND abs(upper - 0.27753279986288915) < 1e-12 FROM retention.wilson_interval(0, 10)),
          'wilson_interval at x = 0: the lower limit is exactly 0, the upper R''s 0.27753279986288915');
SELECT throws_ok($$SELECT retention.newcombe_interval(5, 4, 1, 10)$$, '22023', NULL, 'successes above trials are refused');
SELECT throws_ok($$SELECT retention.newcombe_interval(1, 4, 1, 10, 1)$$, '22023', NULL, 'confidence 1 is refused');
SELECT throws_ok($$SELECT retention.wilson_interval(0, 0)$$, '22023', NULL, 'zero trials are refused');

-- assignment --------------------------------------------------------------
CREATE TEMP TABLE py_arms (campaign text, user_id bigint, control_fraction float8, u float8, arm text);
\copy py_arms FROM 'test/loop/fixtures/assignment_arms.csv' WITH (FORMAT csv, HEADER true)
SELECT is((SELECT count(*)::int FROM py_arms p
            WHERE retention.assignment_arm(p.campaign, p.user_id, p.control_fraction,
                                           '0123456789abcdef-retention-test'::bytea) = p.arm),
          28, 'assignment_arm equals the rule computed with Python''s hmac');
SELECT throws_ok($$SELECT retention.assignment_arm('c', 1, 0.1, 'short'::bytea)$$, '22023', NULL, 'a key under 16 bytes is refused');
-- unbiased: the control share of 20,000 ids is within 3 standard errors of 0.2
SELECT cmp_ok((SELECT abs(avg((retention.assignment_arm('c', g, 0.2, 'another key of some length') = 'control')::int) - 0.2)
                 FROM generate_series(1, 20000) g)::float8, '<', (3 * sqrt(0.2 * 0.8 / 20000))::float8,
              'the control share matches control_fraction');

-- a simulated population ----------------------------------------------------
-- 100 pipelines of 1,000 at-risk customers each over one events table; each
-- pipeline has a campaign with its own key.  Outcomes: a purchase one day
-- after assignment with probability 1 - churn_prob, plus the true effect
-- (0.08) in the treatment arm of the "effect" campaigns; the first
-- campaign has no effect at all.
SELECT setseed(0.19);
CREATE TABLE public.sim_events (user_id bigint, ts timestamptz, event_type text, amount numeric, item_id bigint);
CREATE INDEX ON public.sim_events (user_id);
INSERT INTO retention.pipelines (name, events)
SELECT 'sim_' || k, 'public.sim_events' FROM generate_series(0, 99) k;
INSERT INTO retention.customer_scores (pipeline, user_id, churn_prob, recommended_items, scored_at)
SELECT 'sim_' || k, k * 10000 + i, 0.5 + 0.45 * random(), '{1,2,3}', '2024-01-01'
  FROM generate_series(0, 99) k, generate_series(1, 1000) i;
INSERT INTO retention.campaigns (name, pipeline, control_fraction, threshold, offer, assignment_key)
SELECT 'sim_' || k, 'sim_' || k, 0.5, 0.5, '10% coupon', convert_to('sim key number ' || k, 'UTF8')
  FROM generate_series(0, 99) k;
CREATE TEMP TABLE assigned AS
SELECT c.name, a.* FROM retention.campaigns c, retention.assign_interventions(c.name, '2024-01-01') a
 WHERE c.name LIKE 'sim\_%';
SELECT is((SELECT sum(customers)::int FROM assigned), 100000, 'every at-risk customer is assigned');
SELECT is((SELECT count(*)::int FROM retention.assign_interventions('sim_0', '2024-02-01')), 0,
          'assigning again adds no one and moves no one');
SELECT is((SELECT count(*)::int FROM retention.interventions i
            WHERE i.arm <> retention.assignment_arm(i.campaign, i.user_id, 0.5, convert_to('sim key number ' || substr(i.campaign, 5), 'UTF8'))),
          0, 'every stored arm is the keyed hash''s');
SELECT is((SELECT (offer, items, assigned_at)::text FROM retention.interventions WHERE campaign = 'sim_3' LIMIT 1),
          '("10% coupon","{1,2,3}","2024-01-01 00:00:00+00")', 'the offer, the items and the time of assignment are kept');

INSERT INTO public.sim_events
SELECT i.user_id, i.assigned_at + interval '1 day', 'purchase', 20, 1
  FROM retention.interventions i
 WHERE i.campaign LIKE 'sim\_%'
   AND random() < 1 - i.churn_prob + CASE WHEN i.arm = 'treatment' AND i.campaign <> 'sim_0' THEN 0.08 ELSE 0 END;
-- events outside the horizon or of another type do not count
INSERT INTO public.sim_events
SELECT i.user_id, i.assigned_at + interval '40 days', 'purchase', 1000, 1 FROM retention.interventions i WHERE i.campaign = 'sim_1'
UNION ALL
SELECT i.user_id, i.assigned_at + interval '2 days', 'view', 1000, 1 FROM retention.interventions i WHERE i.campaign = 'sim_1'
UNION ALL
SELECT i.user_id, i.assigned_at - interval '1 day', 'purchase', 1000, 1 FROM retention.interventions i WHERE i.campaign = 'sim_1';
ANALYZE public.sim_events;

CREATE TEMP TABLE effects AS
SELECT c.name, e.* FROM retention.campaigns c, retention.intervention_effect(c.name, '30 days') e
 WHERE c.name LIKE 'sim\_%';

SELECT is((SELECT array_agg(arm ORDER BY ord) FROM (SELECT arm, row_number() OVER () AS ord FROM retention.intervention_effect('sim_1', '30 days')) s),
          '{treatment,control,"treatment - control"}', 'rows: treatment, control, then the difference');
-- plain SQL: the same counts, rates and revenue
SELECT is((SELECT (customers, retained, revenue)::text FROM effects WHERE name = 'sim_1' AND arm = 'treatment'),
          (SELECT (count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM public.sim_events e WHERE e.user_id = i.user_id AND e.event_type = 'purchase'
                                                               AND e.ts > i.assigned_at AND e.ts <= i.assigned_at + interval '30 days')),
                   (SELECT sum(e.amount) FROM public.sim_events e JOIN retention.interventions j ON j.user_id = e.user_id
                     WHERE j.campaign = 'sim_1' AND j.arm = 'treatment' AND e.event_type = 'purchase'
                       AND e.ts > j.assigned_at AND e.ts <= j.assigned_at + interval '30 days'))::text
             FROM retention.interventions i WHERE i.campaign = 'sim_1' AND i.arm = 'treatment'),
          'customers, retained and revenue equal a plain-SQL count over the horizon');
SELECT is((SELECT (e.retention_rate, e.ci_low, e.ci_high, e.p_value)::text FROM effects e WHERE e.name = 'sim_1' AND e.arm = 'treatment - control'),
          (SELECT (n.difference, n.lower, n.upper, n.p_value)::text
             FROM effects t, effects c, retention.newcombe_interval(t.retained, t.customers, c.retained, c.customers) n
            WHERE t.name = 'sim_1' AND t.arm = 'treatment' AND c.name = 'sim_1' AND c.arm = 'control'),
          'the difference row is newcombe_interval of the arms');
SELECT ok((SELECT ci_low > 0 AND ci_low <= 0.08 AND ci_high >= 0.08 AND p_value < 0.05
             FROM effects WHERE name = 'sim_1' AND arm = 'treatment - control'),
          'a campaign with a true effect of 0.08: the interval holds 0.08 and excludes 0');
SELECT ok((SELECT p_value > 0.05 AND ci_low < 0 AND ci_high > 0 FROM effects WHERE name = 'sim_0' AND arm = 'treatment - control'),
          'a campaign without effect is not significant');
-- coverage over 99 campaigns with effect 0.08: binomial sd of the share is 0.022
SELECT cmp_ok((SELECT avg((ci_low <= 0.08 AND 0.08 <= ci_high)::int) FROM effects
                WHERE arm = 'treatment - control' AND name <> 'sim_0')::float8, '>=', 0.89::float8,
              'over 99 simulated campaigns the 95% interval holds the true effect at least 89% of the time');
SELECT cmp_ok((SELECT avg((ci_low <= 0.08 AND 0.08 <= ci_high)::int) FROM effects
                WHERE arm = 'treatment - control' AND name <> 'sim_0')::float8, '<=', 0.995::float8,
              '... and is not uselessly wide (below 99.5%)');
SELECT diag(format('simulated campaigns: coverage %s over %s campaigns with effect 0.08; no-effect campaign p = %s',
                   round(avg((ci_low <= 0.08 AND 0.08 <= ci_high)::int) FILTER (WHERE name <> 'sim_0'), 3),
                   count(*) FILTER (WHERE name <> 'sim_0'),
                   round((max(p_value) FILTER (WHERE name = 'sim_0'))::numeric, 3)))
  FROM effects WHERE arm = 'treatment - control';
-- uplift by decile
SELECT is((SELECT count(*)::int FROM retention.intervention_uplift('sim_2', '30 days')), 10, 'ten churn-probability deciles');
SELECT is((SELECT sum(treatment_customers + control_customers)::int FROM retention.intervention_uplift('sim_2', '30 days')),
          1000, 'the deciles hold every customer');
SELECT ok((SELECT bool_and(min_churn_prob <= max_churn_prob) AND
                  bool_and(max_churn_prob <= (SELECT min(u2.min_churn_prob) FROM retention.intervention_uplift('sim_2', '30 days') u2 WHERE u2.decile > u.decile))
                  FILTER (WHERE decile < 10)
             FROM retention.intervention_uplift('sim_2', '30 days') u),
          'deciles are ordered by churn probability');
-- a large coverage study of the interval alone: 4,000 pairs of binomial
-- draws, n = 400 per arm, p = 0.30 and 0.38; sd of the share 0.0034
CREATE TEMP TABLE coverage_study AS
SELECT avg((n.lower <= 0.08 AND 0.08 <= n.upper)::int)::float8 AS coverage
  FROM (SELECT r, count(*) FILTER (WHERE g <= 400 AND random() < 0.38) AS x1,
               count(*) FILTER (WHERE g > 400 AND random() < 0.30) AS x0
          FROM generate_series(1, 4000) r, generate_series(1, 800) g GROUP BY r) s,
       retention.newcombe_interval(s.x1, 400, s.x0, 400) n;
SELECT diag(format('coverage of the 95%% Newcombe interval over 4,000 simulated experiments: %s', round(coverage::numeric, 4)))
  FROM coverage_study;
SELECT ok((SELECT abs(coverage - 0.95) < 0.012 FROM coverage_study),
          'coverage of the 95% interval over 4,000 simulated experiments is within 0.012 of 0.95');

-- the nightly hooks: assign_campaigns and campaign_effects
SELECT is((SELECT (treatment_customers, control_customers, treatment_rate, control_rate, difference, ci_low, ci_high, p_value)::text
             FROM retention.campaign_effects('sim_5', '30 days')),
          (SELECT (t.customers, c.customers, t.retention_rate, c.retention_rate, d.retention_rate, d.ci_low, d.ci_high, d.p_value)::text
             FROM effects t, effects c, effects d
            WHERE t.name = 'sim_5' AND c.name = 'sim_5' AND d.name = 'sim_5'
              AND t.arm = 'treatment' AND c.arm = 'control' AND d.arm = 'treatment - control'),
          'campaign_effects: one row per campaign with intervention_effect''s figures');
UPDATE retention.campaigns SET auto_assign = (name = 'sim_7') WHERE name LIKE 'sim\_%';
INSERT INTO retention.customer_scores (pipeline, user_id, churn_prob, scored_at)
VALUES ('sim_7', 7999001, 0.9, '2024-03-01'), ('sim_7', 7999002, 0.2, '2024-03-01'), ('sim_8', 8999001, 0.9, '2024-03-01');
SELECT is((SELECT array_agg(campaign || ':' || customers) FROM retention.assign_campaigns('sim_7', '2024-03-01')),
          '{sim_7:1}', 'assign_campaigns adds the new at-risk customer of an auto_assign campaign only');
SELECT is((SELECT count(*)::int FROM retention.assign_campaigns('sim_8', '2024-03-01')), 0,
          'campaigns without auto_assign are left alone');

-- the report section
SELECT ok((SELECT h LIKE '%<td>sim\_1</td>%' AND h LIKE '%<b>+%' FROM retention.campaign_effects_html('sim_1', '30 days') h),
          'campaign_effects_html: the campaign, its significant difference in bold');
SELECT ok((SELECT h LIKE '%<td>sim\_0</td>%' AND h NOT LIKE '%<b>%' FROM retention.campaign_effects_html('sim_0', '30 days') h),
          'campaign_effects_html: a difference whose interval holds 0 is not bold');
INSERT INTO retention.campaigns (name, pipeline, assignment_key) VALUES ('<x&y>', 'sim_9', 'a key of 16 bytes');
INSERT INTO retention.interventions SELECT '<x&y>', user_id, arm, assigned_at, offer, items, churn_prob
  FROM retention.interventions WHERE campaign = 'sim_9';
SELECT ok((SELECT h LIKE '%<td>&lt;x&amp;y&gt;</td>%' AND h NOT LIKE '%<x&y>%' FROM retention.campaign_effects_html('sim_9', '30 days') h),
          'campaign_effects_html escapes campaign names');

-- errors, and a role with only USAGE ------------------------------------------
SELECT throws_ok($$SELECT * FROM retention.assign_interventions('no such campaign')$$, '42704', NULL, 'unknown campaign');
SELECT throws_ok($$SELECT * FROM retention.intervention_effect('sim_1', '-1 day')$$, '22023', NULL, 'a negative horizon is refused');
CREATE ROLE retention_iv_user;
GRANT USAGE ON SCHEMA retention TO retention_iv_user;
SET LOCAL ROLE retention_iv_user;
SELECT throws_ok($$SELECT * FROM retention.intervention_effect('sim_1', '30 days')$$, '42501', NULL,
                 'a role without SELECT on the tables cannot read the effect');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
