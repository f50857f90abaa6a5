--------------------------------------------------------------------------
-- The loop's customer-base candidates
--
-- refresh() fits several customer-base models, checks that the data
-- identify each fit's parameters, backtests each at as_of - horizon and
-- publishes the scores of the best one that earns it.  These functions
-- read any candidate by its jsonb form ("kind" says which), so a new model
-- type plugs in by adding a branch here.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.customer_base_fit_problem(fit jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    est float8;
    se float8;
    no_se text[] := '{}';
    wide text[] := '{}';
    dropout float8;
    problems text[] := '{}';
BEGIN
    IF fit ->> 'kind' = 'nbd' THEN
        -- the purchase process alone: r and alpha must be positive and finite
        IF NOT COALESCE((fit ->> 'r')::float8 > 0 AND (fit ->> 'alpha')::float8 > 0
                        AND (fit ->> 'r')::float8 < 'Infinity' AND (fit ->> 'alpha')::float8 < 'Infinity', false) THEN
            RETURN 'r and alpha are not positive and finite';
        END IF;
        RETURN NULL;
    END IF;
    IF NOT COALESCE((fit ->> 'converged')::boolean, false) THEN
        problems := problems || 'not converged'::text;
    END IF;
    FOR k IN SELECT jsonb_object_keys(COALESCE(fit -> 'std_err', '{}')) ORDER BY 1 LOOP
        est := (fit ->> k)::float8;
        se := (fit -> 'std_err' ->> k)::float8;
        IF se IS NULL OR se = 'NaN'::float8 THEN
            no_se := no_se || k;
        ELSIF se > abs(est) THEN
            wide := wide || format('%s %s ± %s', k, round(est::numeric, 4), round(se::numeric, 4));
        END IF;
    END LOOP;
    IF cardinality(no_se) > 0 THEN
        problems := problems || ('no standard error for ' || array_to_string(no_se, ', '));
    END IF;
    IF cardinality(wide) > 0 THEN
        problems := problems || ('standard error above the estimate: ' || array_to_string(wide, ', '));
    END IF;
    -- a dropout process that vanishes leaves P(alive) = 1 for everyone
    IF fit ->> 'kind' IN ('bgnbd', 'mbgnbd') THEN
        dropout := (fit ->> 'a')::float8 / ((fit ->> 'a')::float8 + (fit ->> 'b')::float8);
        IF dropout < 1e-3 THEN
            problems := problems || format('mean dropout a/(a+b) = %s, near 0', btrim(to_char(dropout, '9.9EEEE')));
        END IF;
    ELSIF fit ->> 'kind' = 'pareto_nbd' THEN
        dropout := (fit ->> 's')::float8 / (fit ->> 'beta')::float8;
        IF dropout < 1e-4 THEN
            problems := problems || format('mean dropout rate s/beta = %s per period, near 0',
                                           btrim(to_char(dropout, '9.9EEEE')));
        END IF;
    END IF;
    IF cardinality(problems) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN array_to_string(problems, ', ');
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_fit_problem(jsonb) IS
'why the data do not identify a customer-base fit (jsonb of bgnbd_model, mbgnbd_model, pareto_nbd_model, gamma_gamma_model or an nbd model): not converged, a standard error missing or above its estimate, or a mean dropout near 0; NULL when the fit is usable';

CREATE FUNCTION @extschema@.customer_base_p_alive(model jsonb, frequency float8, recency float8, t float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.bgnbd_p_alive(model::text::@extschema@.bgnbd_model, frequency, recency, t);
    WHEN 'mbgnbd' THEN
        RETURN @extschema@.mbgnbd_p_alive(model::text::@extschema@.mbgnbd_model, frequency, recency, t);
    WHEN 'pareto_nbd' THEN
        RETURN @extschema@.pareto_nbd_p_alive(model::text::@extschema@.pareto_nbd_model, frequency, recency, t);
    ELSE
        -- nbd (and any kind without a dropout process)
        RETURN NULL;
    END CASE;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_p_alive(jsonb, float8, float8, float8) IS
'P(alive) of a customer under a customer-base model given as jsonb (kind bgnbd, mbgnbd or pareto_nbd); NULL for other kinds (nbd has no dropout process)';

CREATE FUNCTION @extschema@.customer_base_expected_purchases(model jsonb, horizon float8,
                                                            frequency float8, recency float8, t float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r float8;
    alpha float8;
BEGIN
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.bgnbd_expected_purchases(model::text::@extschema@.bgnbd_model, horizon, frequency, recency, t);
    WHEN 'pareto_nbd' THEN
        RETURN @extschema@.pareto_nbd_expected_purchases(model::text::@extschema@.pareto_nbd_model, horizon,
                                                         frequency, recency, t);
    WHEN 'mbgnbd' THEN
        RETURN @extschema@.mbgnbd_expected_purchases(model::text::@extschema@.mbgnbd_model, horizon,
                                                     frequency, recency, t);
    WHEN 'nbd' THEN
        -- gamma-mixed Poisson purchases without dropout: the posterior mean
        -- rate (r + x) / (alpha + T) times the horizon
        r := (model ->> 'r')::float8;
        alpha := (model ->> 'alpha')::float8;
        IF NOT COALESCE(r > 0 AND r < 'Infinity' AND alpha > 0 AND alpha < 'Infinity', false) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('nbd model parameters r = %s and alpha = %s must be positive and finite',
                                 COALESCE(r::text, 'missing'), COALESCE(alpha::text, 'missing'));
        END IF;
        IF NOT (horizon >= 0 AND horizon < 'Infinity' AND frequency >= 0 AND frequency < 'Infinity'
                AND t >= 0 AND t < 'Infinity') THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('horizon %s, frequency %s and t %s must be non-negative and finite', horizon, frequency, t);
        END IF;
        RETURN horizon * (r + frequency) / (alpha + t);
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown customer-base model kind "%s"', model ->> 'kind'),
            HINT = 'Use the jsonb of a bgnbd_model, an mbgnbd_model, a pareto_nbd_model or {"kind": "nbd", "r": ..., "alpha": ...}.';
    END CASE;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_expected_purchases(jsonb, float8, float8, float8, float8) IS
'expected repeat purchases of a customer in the next horizon periods under a customer-base model given as jsonb (kind bgnbd, mbgnbd, pareto_nbd or nbd)';

CREATE FUNCTION @extschema@.customer_base_clv(model jsonb, spend @extschema@.gamma_gamma_model,
                                             frequency float8, recency float8, t float8, monetary float8,
                                             periods integer, period float8, discount_rate float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rate float8;
    previous float8 := 0;
    cumulative float8;
    total float8 := 0;
BEGIN
    IF periods < 1 OR periods > 100000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('periods must be between 1 and 100000, not %s', periods);
    END IF;
    IF NOT (period > 0 AND period < 'Infinity') OR NOT (discount_rate >= 0 AND discount_rate < 'Infinity') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('period must be positive and discount_rate non-negative, both finite, not %s and %s',
                             period, discount_rate);
    END IF;
    -- expected spend per purchase times the purchases expected in each
    -- period, each period discounted by (1 + discount_rate) at its end
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.customer_lifetime_value(model::text::@extschema@.bgnbd_model, spend, frequency,
                                                   recency, t, monetary, periods, period, discount_rate);
    WHEN 'nbd' THEN
        -- a constant expected rate (r + x) / (alpha + T) per unit of time
        rate := @extschema@.customer_base_expected_purchases(model, 1, frequency, recency, t);
        FOR i IN 1 .. periods LOOP
            -- past e^700 the discount overflows soon, and what is left is
            -- below 1e-300 of each period's share
            EXIT WHEN i * ln(1 + discount_rate) > 700;
            total := total + rate * period / (1 + discount_rate) ^ i;
        END LOOP;
    WHEN 'pareto_nbd', 'mbgnbd' THEN
        -- MBG/NBD sums a series per period, of about 40 h / (alpha + T) terms
        -- when frequency <= a - r (bgnbd.c): refuse at once periods that
        -- would take more than 1e8 terms in all, as customer_lifetime_value
        -- does for BG/NBD, rather than run for minutes
        IF model ->> 'kind' = 'mbgnbd'
           AND frequency <= (model ->> 'a')::float8 - (model ->> 'r')::float8
           AND 20.0 * periods * periods * period / ((model ->> 'alpha')::float8 + t) > 1e8 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('%s periods of length %s are too many for this model and customer',
                                 periods, period),
                HINT = 'Use fewer or shorter periods.';
        END IF;
        FOR i IN 1 .. periods LOOP
            EXIT WHEN i * ln(1 + discount_rate) > 700;
            cumulative := @extschema@.customer_base_expected_purchases(model, i * period, frequency, recency, t);
            total := total + (cumulative - previous) / (1 + discount_rate) ^ i;
            previous := cumulative;
        END LOOP;
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown customer-base model kind "%s"', model ->> 'kind'),
            HINT = 'Use the jsonb of a bgnbd_model, an mbgnbd_model, a pareto_nbd_model or {"kind": "nbd", "r": ..., "alpha": ...}.';
    END CASE;
    RETURN @extschema@.gamma_gamma_expected_spend(spend, frequency, monetary) * total;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_clv(jsonb, @extschema@.gamma_gamma_model, float8, float8, float8, float8, integer, float8, float8) IS
'expected spend of a customer over the next periods periods of length period under a customer-base model given as jsonb (kind bgnbd, mbgnbd, pareto_nbd or nbd) and a Gamma-Gamma spend model, each period discounted by (1 + discount_rate)';
