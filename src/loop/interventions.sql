--------------------------------------------------------------------------
-- Interventions: campaigns, randomised control arms and their effect
--
-- A campaign targets the at-risk customers of a pipeline.  Each customer is
-- put in the treatment or the control arm by a keyed hash, so the split is
-- random with respect to everything about the customer, reproducible by
-- anyone holding the key, and unchanged when assignment runs again.  The
-- effect is the difference of retention rates between the arms over a
-- horizon after assignment, with Newcombe's interval (method 10).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.wilson_interval(successes bigint, trials bigint, confidence float8 DEFAULT 0.95,
    OUT estimate float8, OUT lower float8, OUT upper float8)
AS 'MODULE_PATHNAME', 'wilson_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.wilson_interval(bigint, bigint, float8) IS
'a proportion successes / trials with its Wilson score interval (Wilson 1927) at the given confidence';

CREATE FUNCTION @extschema@.newcombe_interval(successes1 bigint, trials1 bigint,
    successes0 bigint, trials0 bigint, confidence float8 DEFAULT 0.95,
    OUT difference float8, OUT lower float8, OUT upper float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'newcombe_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.newcombe_interval(bigint, bigint, bigint, bigint, float8) IS
'the difference p1 - p0 of two independent proportions with Newcombe''s hybrid score interval (Newcombe 1998, method 10) and the two-sided p-value of the pooled z test (prop.test without continuity correction)';

CREATE TABLE @extschema@.campaigns (
    name             text        PRIMARY KEY,
    pipeline         text        NOT NULL DEFAULT 'default',
    control_fraction float8      NOT NULL DEFAULT 0.1
                                 CHECK (control_fraction > 0 AND control_fraction < 1),
    threshold        float8      NOT NULL DEFAULT 0.5
                                 CHECK (threshold >= 0 AND threshold <= 1),
    offer            text,
    assignment_key   bytea       NOT NULL
                                 DEFAULT pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                      OPERATOR(pg_catalog.||) pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                 CHECK (pg_catalog.length(assignment_key) >= 16),
    auto_assign      boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.campaigns IS
'retention campaigns: which pipeline''s at-risk list (churn probability >= threshold) they target, the share kept as a control arm, the key of the assignment hash, and whether refresh() assigns new at-risk customers every night';

CREATE TABLE @extschema@.interventions (
    campaign    text        NOT NULL REFERENCES @extschema@.campaigns (name) ON UPDATE CASCADE,
    user_id     bigint      NOT NULL,
    arm         text        NOT NULL CHECK (arm IN ('treatment', 'control')),
    assigned_at timestamptz NOT NULL,
    offer       text,
    items       bigint[],
    churn_prob  float8,
    PRIMARY KEY (campaign, user_id)
);

COMMENT ON TABLE @extschema@.interventions IS
'one row per customer of a campaign: the arm (treatment receives the offer, control does not), when they were assigned, what was offered, and their churn probability at assignment';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.interventions', '');

CREATE FUNCTION @extschema@.assignment_arm(campaign text, user_id bigint, control_fraction float8, key bytea)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(
                          @extschema@.pseudonymize(campaign OPERATOR(pg_catalog.||) ':'
                                                   OPERATOR(pg_catalog.||) user_id::pg_catalog.text, key), 1, 13)
                     )::pg_catalog.bit(52)::pg_catalog.int8::pg_catalog.float8 / 4503599627370496.0
                     OPERATOR(pg_catalog.<) control_fraction
                THEN 'control' ELSE 'treatment' END
$$;

COMMENT ON FUNCTION @extschema@.assignment_arm(text, bigint, float8, bytea) IS
'the arm of a customer: control when the first 52 bits of HMAC-SHA256(key, campaign || '':'' || user_id), read as a fraction of 2^52, are below control_fraction, else treatment';

CREATE FUNCTION @extschema@.assign_interventions(campaign text, assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (arm text, customers bigint)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.campaigns;
BEGIN
    SELECT * INTO c FROM @extschema@.campaigns WHERE name = assign_interventions.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist', campaign USING ERRCODE = '42704',
            HINT = 'Create it with INSERT INTO retention.campaigns (name, pipeline, control_fraction) VALUES (...).';
    END IF;
    IF assigned_at IS NULL THEN
        RAISE EXCEPTION 'assigned_at must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    WITH added AS (
        INSERT INTO @extschema@.interventions AS i (campaign, user_id, arm, assigned_at, offer, items, churn_prob)
        SELECT c.name, r.user_id,
               @extschema@.assignment_arm(c.name, r.user_id, c.control_fraction, c.assignment_key),
               assign_interventions.assigned_at, c.offer, r.recommended_items, r.churn_prob
          FROM @extschema@.at_risk(c.threshold, c.pipeline) r
        ON CONFLICT ON CONSTRAINT interventions_pkey DO NOTHING
        RETURNING i.arm)
    SELECT a.arm, count(*) FROM added a GROUP BY a.arm ORDER BY a.arm DESC;
END
$$;

COMMENT ON FUNCTION @extschema@.assign_interventions(text, timestamptz) IS
'adds the campaign''s pipeline''s at-risk customers not yet in the campaign to retention.interventions, each in the arm assignment_arm gives, and returns how many went to each arm; customers already assigned keep their arm';

-- Per-customer outcome over (assigned_at, assigned_at + horizon]: any
-- purchase, and the revenue, from the pipeline's events table.
CREATE FUNCTION @extschema@.intervention_outcomes(campaign text, horizon interval)
RETURNS TABLE (user_id bigint, arm text, churn_prob float8, retained boolean, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.pipelines;
    as_of timestamptz;
BEGIN
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'horizon must be a positive interval' USING ERRCODE = '22023',
            DETAIL = format('horizon is %s.', coalesce(horizon::text, 'null'));
    END IF;
    SELECT pl.* INTO p FROM @extschema@.campaigns c JOIN @extschema@.pipelines pl ON pl.name = c.pipeline
     WHERE c.name = intervention_outcomes.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist or has no pipeline', campaign USING ERRCODE = '42704';
    END IF;
    as_of := coalesce(p.as_of, now());
    -- one join, not a subquery per customer: without an index on the
    -- events' user column that read the whole table once per customer
    RETURN QUERY EXECUTE format($query$
        SELECT i.user_id, i.arm, i.churn_prob, pg_catalog.count(e.%2$I) > 0,
               coalesce(pg_catalog.sum(e.%3$I)::pg_catalog.numeric, 0)
          FROM @extschema@.interventions i
               LEFT JOIN %1$s e
                      ON e.%2$I = i.user_id AND e.%4$I = $2
                     AND e.%5$I > i.assigned_at AND e.%5$I <= i.assigned_at + $3
         WHERE i.campaign = $1 AND i.assigned_at + $3 <= $4
         GROUP BY i.campaign, i.user_id
    $query$, p.events, p.user_column, p.amount_column, p.event_column, p.time_column)
    USING campaign, p.purchase_event, horizon, as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.intervention_outcomes(text, interval) IS
'each customer of a campaign whose horizon has ended (assigned_at + horizon <= the pipeline''s as_of or now): their arm, churn probability at assignment, whether they bought anything in (assigned_at, assigned_at + horizon], and that revenue';

CREATE FUNCTION @extschema@.intervention_effect(campaign text, horizon interval, confidence float8 DEFAULT 0.95)
RETURNS TABLE (arm text, customers bigint, retained bigint, retention_rate float8,
               ci_low float8, ci_high float8, p_value float8,
               revenue numeric, revenue_per_customer float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (SELECT * FROM @extschema@.intervention_outcomes(campaign, horizon)),
    arms AS (
        SELECT a.arm, pg_catalog.count(o.user_id) AS customers,
               pg_catalog.count(o.user_id) FILTER (WHERE o.retained) AS retained,
               coalesce(pg_catalog.sum(o.revenue), 0) AS revenue
          FROM (VALUES ('treatment'), ('control')) a(arm) LEFT JOIN o ON o.arm OPERATOR(pg_catalog.=) a.arm
         GROUP BY a.arm),
    t AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'treatment'),
    c AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'control'),
    result AS (
    SELECT a.arm, a.customers, a.retained, w.estimate, w.lower, w.upper, NULL::float8, a.revenue,
           CASE WHEN a.customers > 0 THEN (a.revenue / a.customers)::float8 END
      FROM arms a LEFT JOIN LATERAL @extschema@.wilson_interval(a.retained, NULLIF(a.customers, 0), confidence) w ON true
    UNION ALL
    SELECT 'treatment - control', NULL, NULL, n.difference, n.lower, n.upper, n.p_value,
           t.revenue OPERATOR(pg_catalog.-) c.revenue,
           CASE WHEN t.customers > 0 AND c.customers > 0
                THEN (t.revenue / t.customers - c.revenue / c.customers)::float8 END
      FROM t CROSS JOIN c
           LEFT JOIN LATERAL @extschema@.newcombe_interval(t.retained, NULLIF(t.customers, 0),
                                                           c.retained, NULLIF(c.customers, 0), confidence) n ON true)
    SELECT * FROM result r ORDER BY r.arm = 'treatment - control', r.arm = 'control'
$$;

COMMENT ON FUNCTION @extschema@.intervention_effect(text, interval, float8) IS
'the effect of a campaign: per arm the customers whose horizon has ended, how many bought in the horizon after assignment, the retention rate with its Wilson interval, and revenue; then treatment - control: the difference of rates with Newcombe''s hybrid score interval (1998, method 10) and the pooled z test''s p-value, and the differences of revenue';

CREATE FUNCTION @extschema@.intervention_uplift(campaign text, horizon interval, groups integer DEFAULT 10,
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (decile integer, min_churn_prob float8, max_churn_prob float8,
               treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8,
               difference float8, ci_low float8, ci_high float8, p_value float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (
        SELECT x.*, pg_catalog.ntile(groups) OVER (ORDER BY x.churn_prob, x.user_id) AS g
          FROM @extschema@.intervention_outcomes(campaign, horizon) x
         WHERE x.churn_prob IS NOT NULL),
    s AS (
        SELECT o.g, pg_catalog.min(o.churn_prob) AS lo, pg_catalog.max(o.churn_prob) AS hi,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment') AS nt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control') AS nc,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment' AND o.retained) AS xt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control' AND o.retained) AS xc
          FROM o GROUP BY o.g)
    SELECT s.g::integer, s.lo, s.hi, s.nt, s.nc,
           CASE WHEN s.nt > 0 THEN s.xt::float8 / s.nt END,
           CASE WHEN s.nc > 0 THEN s.xc::float8 / s.nc END,
           n.difference, n.lower, n.upper, n.p_value
      FROM s LEFT JOIN LATERAL @extschema@.newcombe_interval(s.xt, NULLIF(s.nt, 0), s.xc, NULLIF(s.nc, 0), confidence) n ON true
     ORDER BY s.g
$$;

COMMENT ON FUNCTION @extschema@.intervention_uplift(text, interval, integer, float8) IS
'the effect of a campaign by churn-probability group (deciles by default, 1 = least at risk): per group the customers and retention rate of each arm and the difference with Newcombe''s interval and p-value; does targeting the riskiest pay most?';

CREATE FUNCTION @extschema@.assign_campaigns(pipeline text DEFAULT 'default',
    assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (campaign text, arm text, customers bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name, a.arm, a.customers
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.assign_interventions(c.name, assign_campaigns.assigned_at) a
     WHERE c.pipeline = assign_campaigns.pipeline AND c.auto_assign
     ORDER BY c.name, a.arm DESC
$$;

COMMENT ON FUNCTION @extschema@.assign_campaigns(text, timestamptz) IS
'the nightly assignment: assign_interventions for every campaign of the pipeline with auto_assign, after refresh() has scored it; returns the customers added per campaign and arm';

CREATE FUNCTION @extschema@.campaign_effects(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days',
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (campaign text, treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8, difference float8,
               ci_low float8, ci_high float8, p_value float8, revenue_per_customer_difference float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name,
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_low) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_high) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.p_value) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.revenue_per_customer) FILTER (WHERE e.arm = 'treatment - control')
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.intervention_effect(c.name, campaign_effects.horizon,
                                                              campaign_effects.confidence) e
     WHERE c.pipeline = campaign_effects.pipeline
     GROUP BY c.name, c.created_at
     ORDER BY c.created_at, c.name
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects(text, interval, float8) IS
'one row per campaign of a pipeline: the customers and retention rates of both arms over the horizon, the difference with Newcombe''s interval and p-value, and the difference of revenue per customer (what a report shows)';

CREATE FUNCTION @extschema@.campaign_effects_html(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days')
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '<section id="campaigns"><h2>Campaigns: treatment against control over '
        || @extschema@.html_escape(campaign_effects_html.horizon::text) || '</h2>'
        || coalesce(
               '<table class="metrics" id="campaign-effects"><thead><tr><th>campaign</th>'
               || '<th>treatment</th><th>control</th><th>treatment rate</th><th>control rate</th>'
               || '<th>difference (95% CI)</th><th>p-value</th><th>revenue per customer, difference</th></tr></thead><tbody>'
               || string_agg('<tr class="campaign"><td>' || @extschema@.html_escape(e.campaign) || '</td><td>'
                             || e.treatment_customers || '</td><td>' || e.control_customers || '</td><td>'
                             || coalesce(round((100 * e.treatment_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(round((100 * e.control_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '<b>' ELSE '' END
                                         || to_char(100 * e.difference, 'FMSG990.0') || ' pts ('
                                         || to_char(100 * e.ci_low, 'FMSG990.0') || ' to '
                                         || to_char(100 * e.ci_high, 'FMSG990.0') || ')'
                                         || CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '</b>' ELSE '' END,
                                         '&ndash;') || '</td><td>'
                             || coalesce(round(e.p_value::numeric, 4)::text, '&ndash;') || '</td><td>'
                             || coalesce(round(e.revenue_per_customer_difference::numeric, 2)::text, '&ndash;')
                             || '</td></tr>', '' ORDER BY e.ord)
               || '</tbody></table>',
               '<p>No campaign of this pipeline has customers whose horizon has ended.</p>')
        || '</section>'
      FROM (SELECT x.*, row_number() OVER () AS ord
              FROM @extschema@.campaign_effects(campaign_effects_html.pipeline, campaign_effects_html.horizon) x
             WHERE x.treatment_customers + x.control_customers > 0) e
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects_html(text, interval) IS
'the campaigns of a pipeline as an HTML section for report_html: per campaign the customers and retention rates of both arms, the difference in points with its 95% Newcombe interval (bold when it excludes 0), the p-value and the difference of revenue per customer';
