--------------------------------------------------------------------------
-- Report: the churn model's quality, the customers at risk, their drivers,
-- the backtests, the recommendations, and report_html, which assembles the
-- page from them and from the charts of report_charts.sql
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.report_churn_quality_html(pipeline text,
                                                       OUT roc_html text, OUT calibration_html text,
                                                       OUT model_version integer, OUT trained_at timestamptz,
                                                       OUT churned bigint, OUT retained bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_version     integer;
    v_trained     timestamptz;
    v_auc         float8;
    v_pos         bigint;
    v_neg         bigint;
    s_roc         text;
    s_calibration text;
BEGIN
    ----------------------------------------------------------------------
    -- (c, d) the churn model on its holdout: the version that scored the
    -- customers, else the latest version with holdout predictions
    ----------------------------------------------------------------------
    -- the few versions first, then the holdout: a semi join per customer
    -- scanned the holdout for each when the statistics said it was small
    SELECT pg_catalog.max(v.churn_model_version) INTO v_version
      FROM (SELECT DISTINCT cs.churn_model_version FROM @extschema@.customer_scores AS cs
             WHERE cs.pipeline = report_churn_quality_html.pipeline) AS v
     WHERE EXISTS (SELECT 1 FROM @extschema@.churn_holdout AS h
                    WHERE h.pipeline = report_churn_quality_html.pipeline
                      AND h.model_version = v.churn_model_version);
    IF v_version IS NULL THEN
        SELECT pg_catalog.max(h.model_version) INTO v_version
          FROM @extschema@.churn_holdout AS h WHERE h.pipeline = report_churn_quality_html.pipeline;
    END IF;
    SELECT m.trained_at INTO v_trained FROM @extschema@.models AS m
     WHERE m.name = report_churn_quality_html.pipeline || '_churn' AND m.version = v_version;

    -- probabilities outside [0, 1] (and NaN, above every number) are not predictions
    SELECT @extschema@.roc_auc(h.churn_prob, h.churned),
           pg_catalog.count(*) FILTER (WHERE h.churned), pg_catalog.count(*) FILTER (WHERE NOT h.churned)
      INTO v_auc, v_pos, v_neg
      FROM @extschema@.churn_holdout AS h
     WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
       AND h.churn_prob >= 0 AND h.churn_prob <= 1;

    IF v_version IS NULL OR v_pos + v_neg = 0 THEN
        s_roc := '<p class="no-data" id="roc-curve-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
        s_calibration := '<p class="no-data" id="calibration-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
    ELSE
        IF v_pos = 0 OR v_neg = 0 THEN
            s_roc := pg_catalog.format(
                '<p class="no-data" id="roc-curve-no-data">No data yet: the holdout of model version %s has only %s customers, so there is no ROC curve.</p>',
                v_version, CASE WHEN v_pos = 0 THEN 'retained' ELSE 'churned' END);
        ELSE
            -- one point per distinct score (at most about 500), from the highest down
            WITH h AS (
                SELECT h.churn_prob AS s, h.churned AS y FROM @extschema@.churn_holdout AS h
                 WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
                   AND h.churn_prob >= 0 AND h.churn_prob <= 1),
            th AS (
                SELECT h.s, pg_catalog.count(*) FILTER (WHERE h.y) AS tp, pg_catalog.count(*) FILTER (WHERE NOT h.y) AS fp
                  FROM h GROUP BY h.s),
            cum AS (
                SELECT pg_catalog.sum(th.tp) OVER w AS ctp, pg_catalog.sum(th.fp) OVER w AS cfp,
                       pg_catalog.row_number() OVER w AS rn, pg_catalog.count(*) OVER () AS n
                  FROM th WINDOW w AS (ORDER BY th.s DESC)),
            pts AS (
                SELECT 0::bigint AS rn, 0::float8 AS fpr, 0::float8 AS tpr
                UNION ALL
                SELECT cum.rn, cum.cfp::float8 / v_neg, cum.ctp::float8 / v_pos FROM cum
                 WHERE cum.rn = cum.n OR cum.rn % GREATEST(1, pg_catalog.ceil(cum.n / 500.0)::bigint) = 0)
            SELECT pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + pts.fpr * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - pts.tpr) * 300)::numeric, 1)), ' ' ORDER BY pts.rn)
              INTO s_roc FROM pts;
            s_roc := pg_catalog.format(
                '<h3>ROC curve (AUC <span class="auc">%s</span>)</h3>', pg_catalog.round(v_auc::numeric, 3))
                || '<svg class="chart" id="roc-curve" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="ROC curve">'
                || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
                || (SELECT pg_catalog.string_agg(pg_catalog.format(
                           '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                           50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                      FROM pg_catalog.generate_series(0, 5) AS g)
                || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
                || pg_catalog.format('<polyline class="roc" fill="none" points="%s"/>', s_roc)
                || '<text class="axis-title" x="200" y="356" text-anchor="middle">false positive rate</text>'
                || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">true positive rate</text>'
                || '</svg>';
        END IF;

        -- calibration: deciles of the predicted probability
        WITH h AS (
            SELECT h.churn_prob AS s, h.churned AS y,
                   pg_catalog.ntile(10) OVER (ORDER BY h.churn_prob) AS decile
              FROM @extschema@.churn_holdout AS h
             WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
               AND h.churn_prob >= 0 AND h.churn_prob <= 1),
        d AS (
            SELECT h.decile, pg_catalog.avg(h.s) AS predicted,
                   pg_catalog.avg(h.y::integer::float8) AS observed, pg_catalog.count(*) AS n
              FROM h GROUP BY h.decile)
        SELECT '<h3>Calibration (deciles of predicted probability)</h3>'
            || '<svg class="chart" id="calibration" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="calibration plot">'
            || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                       50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
            || pg_catalog.format('<polyline class="calibration" fill="none" points="%s"/>',
                   pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1)), ' ' ORDER BY d.decile))
            || pg_catalog.string_agg(pg_catalog.format(
                   '<circle class="point" cx="%s" cy="%s" r="4.5"><title>decile %s: mean predicted %s, observed %s, %s customers</title></circle>',
                   pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                   pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1),
                   d.decile, pg_catalog.round(d.predicted::numeric, 3), pg_catalog.round(d.observed::numeric, 3), d.n),
                   '' ORDER BY d.decile)
            || '<text class="axis-title" x="200" y="356" text-anchor="middle">mean predicted churn probability</text>'
            || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">observed churn rate</text>'
            || '</svg>'
          INTO s_calibration
          FROM d;
    END IF;
    roc_html := s_roc;
    calibration_html := s_calibration;
    model_version := v_version;
    trained_at := v_trained;
    churned := v_pos;
    retained := v_neg;
END
$$;

COMMENT ON FUNCTION @extschema@.report_churn_quality_html(text) IS
'internal to report_html: the ROC curve and calibration of the churn model on its holdout, the model version shown, when it was trained and its holdout counts';

-- (e) the risk distribution
CREATE FUNCTION @extschema@.report_risk_html(pipeline text, OUT html text, OUT scored bigint, OUT at_risk bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_scored  bigint;
    v_at_risk bigint;
    v_bins    bigint[];
    v_step    bigint;
    v_axis    bigint;
    s_risk    text;
BEGIN
    ----------------------------------------------------------------------
    -- (e) the risk distribution of the scored customers, 20 bins
    ----------------------------------------------------------------------
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE cs.churn_prob >= 0.5)
      INTO v_scored, v_at_risk
      FROM @extschema@.customer_scores AS cs
     WHERE cs.pipeline = report_risk_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1;

    IF v_scored = 0 THEN
        s_risk := '<p class="no-data" id="risk-histogram-no-data">No data yet: no customer has a churn probability.</p>';
    ELSE
        -- bin i holds [i / 20, (i + 1) / 20), and the last bin also 1
        SELECT pg_catalog.array_agg(COALESCE(b.n, 0) ORDER BY g) INTO v_bins
          FROM pg_catalog.generate_series(0, 19) AS g
          LEFT JOIN (SELECT LEAST(pg_catalog.floor(cs.churn_prob * 20)::integer, 19) AS bin, pg_catalog.count(*) AS n
                       FROM @extschema@.customer_scores AS cs
                      WHERE cs.pipeline = report_risk_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1
                      GROUP BY 1) AS b ON b.bin = g;
        -- a y axis in steps of 1, 2 or 5 times a power of ten, about four of them
        v_step := (SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n);
        v_step := GREATEST(1, (SELECT CASE WHEN x.raw / x.mag <= 1 THEN 1 WHEN x.raw / x.mag <= 2 THEN 2
                                           WHEN x.raw / x.mag <= 5 THEN 5 ELSE 10 END * x.mag
                                 FROM (SELECT v_step / 4.0 AS raw,
                                              10 ^ pg_catalog.floor(pg_catalog.log(v_step / 4.0)) AS mag) AS x)::bigint);
        v_axis := pg_catalog.ceil((SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n)::numeric / v_step) * v_step;
        SELECT pg_catalog.format(
                   '<p class="caption">%s customers scored; %s (%s%%) have a churn probability of 0.5 or more.</p>',
                   v_scored, v_at_risk, pg_catalog.round((100.0 * v_at_risk / v_scored)::numeric, 1))
            || '<svg class="chart" id="risk-histogram" xmlns="http://www.w3.org/2000/svg" width="900" height="320" viewBox="0 0 900 320" role="img" aria-label="histogram of churn probabilities">'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<line class="grid" x1="60" x2="860" y1="%1$s" y2="%1$s"/><text class="tick" x="54" y="%2$s" text-anchor="end">%3$s</text>',
                       pg_catalog.round((260 - 240.0 * g * v_step / v_axis)::numeric, 1),
                       pg_catalog.round((264 - 240.0 * g * v_step / v_axis)::numeric, 1), g * v_step), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, (v_axis / v_step)::integer) AS g)
            || pg_catalog.string_agg(pg_catalog.format(
                   '<rect class="bar" x="%s" y="%s" width="38" height="%s" fill="hsl(%s,60%%,50%%)"><title>churn probability %s to %s: %s customers</title></rect>',
                   60 + bins.bin * 40 + 1,
                   pg_catalog.round((260 - 240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round((240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round(120 - 120.0 * bins.bin / 19), (bins.bin / 20.0)::numeric(3, 2),
                   ((bins.bin + 1) / 20.0)::numeric(3, 2), bins.n), '' ORDER BY bins.bin)
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="278" text-anchor="middle">%s</text>', 60 + g * 160, (g / 5.0)::numeric(2, 1)),
                       '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<text class="axis-title" x="460" y="304" text-anchor="middle">churn probability</text>'
            || '<text class="axis-title" x="14" y="140" text-anchor="middle" transform="rotate(-90 14 140)">customers</text>'
            || '</svg>'
          INTO s_risk
          FROM (SELECT (b.i - 1)::integer AS bin, b.n FROM pg_catalog.unnest(v_bins) WITH ORDINALITY AS b(n, i)) AS bins;
    END IF;
    html := s_risk;
    scored := v_scored;
    at_risk := v_at_risk;
END
$$;

COMMENT ON FUNCTION @extschema@.report_risk_html(text) IS
'internal to report_html: the histogram of the customers'' churn probabilities, with the numbers of customers scored and at risk';

CREATE FUNCTION @extschema@.report_drivers_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s_drivers text;
BEGIN
    -- what drives the scores: how often each feature is among a customer's
    -- top churn drivers (customer_scores.top_features), ten most frequent
    WITH f AS (
        SELECT e.value ->> 'feature' AS feature,
               CASE WHEN pg_catalog.jsonb_typeof(e.value -> 'contribution') = 'number'
                    THEN (e.value ->> 'contribution')::float8 END AS contribution
          FROM @extschema@.customer_scores AS cs
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(cs.top_features) = 'array' THEN cs.top_features
                        ELSE '[]'::jsonb END) AS e
         WHERE cs.pipeline = report_drivers_html.pipeline
           AND pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'feature' IS NOT NULL),
    top AS (
        SELECT f.feature, pg_catalog.count(*) AS n, pg_catalog.avg(f.contribution) AS mean_contribution,
               (pg_catalog.row_number() OVER (ORDER BY pg_catalog.count(*) DESC, f.feature) - 1)::integer AS rank
          FROM f GROUP BY f.feature
         ORDER BY pg_catalog.count(*) DESC, f.feature
         LIMIT 10),
    scaled AS (SELECT top.*, pg_catalog.max(top.n) OVER () AS most FROM top)
    SELECT pg_catalog.format('<svg class="chart" id="churn-drivers" xmlns="http://www.w3.org/2000/svg" width="900" height="%s" viewBox="0 0 900 %1$s" role="img" aria-label="top churn drivers">',
                             20 + pg_catalog.count(*) * 26)
        || pg_catalog.string_agg(pg_catalog.format(
               '<text class="feature-label" x="234" y="%1$s" text-anchor="end">%2$s</text>'
               '<rect class="driver" x="240" y="%3$s" width="%4$s" height="20"><title>%5$s: among the top drivers of %6$s customers, mean contribution %7$s</title></rect>'
               '<text class="driver-value" x="%8$s" y="%1$s">%9$s customers, mean contribution %10$s</text>',
               10 + scaled.rank * 26 + 15, @extschema@.html_escape(pg_catalog.left(scaled.feature, 40)),
               10 + scaled.rank * 26, pg_catalog.round((400.0 * scaled.n / scaled.most)::numeric, 1),
               @extschema@.html_escape(scaled.feature), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?'),
               pg_catalog.round((246 + 400.0 * scaled.n / scaled.most)::numeric, 1), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?')), '' ORDER BY scaled.rank)
        || '</svg>'
      INTO s_drivers
      FROM scaled;
    s_drivers := COALESCE('<p class="caption">How often each feature is among a customer''s top churn drivers (customer_scores.top_features).</p>'
                          || s_drivers,
                          '<p class="no-data" id="churn-drivers-no-data">No data yet: no customer has churn drivers.</p>');
    RETURN s_drivers;
END
$$;

COMMENT ON FUNCTION @extschema@.report_drivers_html(text) IS
'internal to report_html: the ten features most often among the customers'' top churn drivers';

CREATE FUNCTION @extschema@.report_backtest_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s_backtest text;
BEGIN
    ----------------------------------------------------------------------
    -- (e2) the backtest of the latest finished run: how each score ranked
    -- the customers who churned after as_of - horizon, and what was withheld
    ----------------------------------------------------------------------
    SELECT '<p class="caption">Each score computed as of ' || @extschema@.html_escape(r.metrics ->> 'backtest_cutoff')
           || ' and ranked against who churned in the horizon that followed (ROC AUC, 0.5 = a coin).'
           || ' A score is published only when its AUC reaches ' || @extschema@.html_escape(r.metrics ->> 'min_backtest_auc')
           || '.</p><table class="metrics" id="backtest"><thead><tr><th>score</th><th>backtest AUC</th><th>customers</th>'
           || '<th>published</th><th>why not</th></tr></thead><tbody>'
           || pg_catalog.string_agg(pg_catalog.format(
                  '<tr class="%s"><th>%s</th><td>%s</td><td>%s</td><td>%s</td><td class="reason" style="text-align:left">%s</td></tr>',
                  CASE WHEN (b.value ->> 'published')::boolean THEN 'published' ELSE 'withheld' END,
                  @extschema@.html_escape(b.key), COALESCE(@extschema@.html_escape(b.value ->> 'auc'), '–'),
                  COALESCE(@extschema@.html_escape(b.value ->> 'n'), '–'),
                  CASE WHEN (b.value ->> 'published')::boolean THEN 'yes' ELSE 'withheld' END,
                  COALESCE(@extschema@.html_escape(b.value ->> 'reason'), '')),
              '' ORDER BY b.key)
           || '</tbody></table>'
      INTO s_backtest
      FROM (SELECT x.metrics FROM @extschema@.refresh_runs AS x
             WHERE x.pipeline = report_backtest_html.pipeline AND x.step = 'refresh'
               AND x.status IN ('ok', 'failed') AND x.metrics ? 'backtest'
             ORDER BY x.id DESC LIMIT 1) AS r,
           pg_catalog.jsonb_each(r.metrics -> 'backtest') AS b
     GROUP BY r.metrics;
    s_backtest := COALESCE(s_backtest, '<p class="no-data" id="backtest-no-data">No data yet: no refresh has run a backtest.</p>');
    RETURN s_backtest;
END
$$;

COMMENT ON FUNCTION @extschema@.report_backtest_html(text) IS
'internal to report_html: the backtest of every score in the latest finished refresh, and why a score was withheld';

CREATE FUNCTION @extschema@.report_recommendations_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_knn_version integer;
    v_metrics     jsonb;
    v_eval        jsonb;
    v_k           text;
    s_recs        text;
BEGIN
    ----------------------------------------------------------------------
    -- (f) recommendation metrics: the evaluation stored with the latest
    -- item-kNN model, rows as evaluate_item_knn returns them (a JSON array
    -- of rows with "recommender", or an object keyed by recommender,
    -- possibly under "evaluation")
    ----------------------------------------------------------------------
    SELECT m.version, m.metrics INTO v_knn_version, v_metrics
      FROM @extschema@.models AS m
     WHERE m.name = report_recommendations_html.pipeline || '_item_knn' AND m.kind = 'item_knn'
     ORDER BY m.version DESC LIMIT 1;
    v_eval := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'evaluation') IN ('array', 'object')
                   THEN v_metrics -> 'evaluation' ELSE v_metrics END;
    v_k := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'k') = 'number' THEN v_metrics ->> 'k' END;

    WITH recs AS (
        SELECT e.value ->> 'recommender' AS recommender, e.value AS vals
          FROM pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'array' THEN v_eval ELSE '[]'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'recommender' IS NOT NULL
        UNION ALL
        SELECT e.key, e.value
          FROM pg_catalog.jsonb_each(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'object' THEN v_eval ELSE '{}'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object'),
    cols AS (
        SELECT recs.recommender, recs.vals,
               pg_catalog.row_number() OVER (ORDER BY CASE recs.recommender WHEN 'item_knn' THEN 0
                                                      WHEN 'popularity' THEN 1 ELSE 2 END, recs.recommender) AS ord
          FROM recs
         WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(recs.vals) AS k(key)
                        WHERE k.key IN ('users', 'precision_at_k', 'recall_at_k', 'ndcg_at_k',
                                        'map_at_k', 'hit_rate', 'coverage'))),
    metric AS (
        SELECT * FROM (VALUES (1, 'users', 'users evaluated'), (2, 'precision_at_k', 'precision@k'),
                              (3, 'recall_at_k', 'recall@k'), (4, 'ndcg_at_k', 'NDCG@k'),
                              (5, 'map_at_k', 'MAP@k'), (6, 'hit_rate', 'hit rate'),
                              (7, 'coverage', 'catalogue coverage')) AS v(ord, key, label)),
    cell AS (
        SELECT metric.ord AS row_ord, cols.ord AS col_ord, metric.key, cols.recommender,
               CASE WHEN pg_catalog.jsonb_typeof(cols.vals -> metric.key) = 'number'
                    THEN (cols.vals ->> metric.key)::float8 END AS val
          FROM metric CROSS JOIN cols),
    best AS (
        SELECT cell.row_ord, pg_catalog.max(cell.val) AS top, pg_catalog.count(cell.val) AS n
          FROM cell GROUP BY cell.row_ord)
    SELECT '<table class="metrics" id="recommendation-metrics"><thead><tr><th>metric'
        || COALESCE(' (k = ' || v_k || ')', '') || '</th>'
        || (SELECT pg_catalog.string_agg('<th>' || CASE cols.recommender WHEN 'item_knn' THEN 'item-kNN'
                                                     WHEN 'popularity' THEN 'popularity (baseline)'
                                                     ELSE @extschema@.html_escape(cols.recommender) END || '</th>',
                                         '' ORDER BY cols.ord) FROM cols)
        || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                THEN '<th>item-kNN ÷ popularity</th>' ELSE '' END
        || '</tr></thead><tbody>'
        || (SELECT pg_catalog.string_agg(
                   pg_catalog.format('<tr class="metric" id="metric-%s"><th>%s</th>', metric.key, metric.label)
                   || (SELECT pg_catalog.string_agg(pg_catalog.format('<td%s>%s</td>',
                                  CASE WHEN metric.key <> 'users' AND best.n > 1 AND cell.val = best.top
                                       THEN ' class="best"' ELSE '' END,
                                  CASE WHEN cell.val IS NULL THEN '–'
                                       WHEN metric.key = 'users' THEN pg_catalog.round(cell.val::numeric)::text
                                       ELSE pg_catalog.round(cell.val::numeric, 4)::text END), '' ORDER BY cell.col_ord)
                         FROM cell JOIN best USING (row_ord) WHERE cell.row_ord = metric.ord)
                   || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                           THEN '<td class="ratio">'
                                || COALESCE((SELECT CASE WHEN metric.key = 'users' THEN ''
                                                         WHEN p.val > 0 THEN pg_catalog.round((k.val / p.val)::numeric, 2)::text || '×'
                                                    END
                                               FROM cell AS k, cell AS p
                                              WHERE k.row_ord = metric.ord AND p.row_ord = metric.ord
                                                AND k.recommender = 'item_knn' AND p.recommender = 'popularity'), '–')
                                || '</td>'
                           ELSE '' END
                   || '</tr>', '' ORDER BY metric.ord) FROM metric)
        || '</tbody></table>'
      INTO s_recs
     WHERE EXISTS (SELECT 1 FROM cols);
    s_recs := COALESCE(pg_catalog.format('<p class="caption">Offline evaluation stored with item-kNN model %s version %s: ranking metrics averaged over the test users, against recommending the best-sellers.</p>',
                                         @extschema@.html_escape(report_recommendations_html.pipeline || '_item_knn'), v_knn_version)
                       || s_recs,
                       '<p class="no-data" id="recommendation-metrics-no-data">No data yet: '
                       || CASE WHEN v_knn_version IS NULL THEN 'no item-kNN model for this pipeline'
                               ELSE 'the item-kNN model has no offline evaluation' END || '.</p>');
    RETURN s_recs;
END
$$;

COMMENT ON FUNCTION @extschema@.report_recommendations_html(text) IS
'internal to report_html: the offline evaluation stored with the latest item-kNN model, against popularity';

CREATE FUNCTION @extschema@.report_header_html(pl @extschema@.pipelines, customers bigint, scored bigint, at_risk bigint,
                                                model_version integer, trained_at timestamptz, churned bigint, retained bigint)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name    text := @extschema@.html_escape(pl.name);
    v_scored  bigint := scored;
    v_at_risk bigint := at_risk;
    v_version integer := model_version;
    v_trained timestamptz := trained_at;
    v_pos     bigint := churned;
    v_neg     bigint := retained;
    v_run     record;
    v_failed  record;
    s_header  text;
BEGIN
    ----------------------------------------------------------------------
    -- header: the pipeline, its latest successful refresh, counts
    ----------------------------------------------------------------------
    SELECT r.run_id, pg_catalog.min(r.started_at) AS started, pg_catalog.max(r.finished_at) AS finished,
           pg_catalog.count(*) AS steps
      INTO v_run
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = pl.name
     GROUP BY r.run_id
    HAVING pg_catalog.bool_and(r.status IN ('ok', 'kept previous', 'skipped') AND r.finished_at IS NOT NULL)
     ORDER BY pg_catalog.min(r.started_at) DESC, r.run_id DESC
     LIMIT 1;
    SELECT r.run_id, r.step, r.started_at, r.message INTO v_failed
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = pl.name AND r.status = 'failed'
       AND (v_run.run_id IS NULL OR r.started_at > v_run.finished)
     ORDER BY r.started_at DESC, r.id DESC
     LIMIT 1;

    s_header := '<header><h1>Retention report: <span class="pipeline">' || v_name || '</span></h1><dl class="summary">'
        || '<dt>events</dt><dd>' || @extschema@.html_escape(pl.events::text) || '</dd>'
        || '<dt>latest successful refresh</dt><dd id="latest-refresh">'
        || CASE WHEN v_run.run_id IS NULL THEN '<span class="no-data">none yet</span>'
                ELSE pg_catalog.format('run %s, %s to %s (%s steps, %s s)', v_run.run_id,
                         pg_catalog.to_char(v_run.started, 'YYYY-MM-DD HH24:MI:SSOF'),
                         pg_catalog.to_char(v_run.finished,
                             CASE WHEN v_run.finished::date = v_run.started::date THEN 'HH24:MI:SS'
                                  ELSE 'YYYY-MM-DD HH24:MI:SSOF' END),
                         v_run.steps,
                         pg_catalog.round(pg_catalog.date_part('epoch', v_run.finished - v_run.started)::numeric, 1)) END
        || '</dd>'
        || CASE WHEN v_failed.run_id IS NOT NULL
                THEN pg_catalog.format('<dt>failed since</dt><dd class="failed" id="failed-refresh">run %s, step %s at %s: %s</dd>',
                         v_failed.run_id, @extschema@.html_escape(v_failed.step),
                         pg_catalog.to_char(v_failed.started_at, 'YYYY-MM-DD HH24:MI:SSOF'),
                         @extschema@.html_escape(COALESCE(v_failed.message, 'no message')))
                ELSE '' END
        || pg_catalog.format('<dt>customers in cohorts</dt><dd id="count-customers">%s</dd>',
               customers)
        || pg_catalog.format('<dt>customers scored</dt><dd id="count-scored">%s</dd>', v_scored)
        || pg_catalog.format('<dt>at risk (churn probability ≥ 0.5)</dt><dd id="count-at-risk">%s</dd>', v_at_risk)
        || pg_catalog.format('<dt>churn model</dt><dd id="churn-model">%s</dd>',
               CASE WHEN v_version IS NULL THEN '<span class="no-data">none yet</span>'
                    ELSE pg_catalog.format('%s version %s%s, %s holdout customers (%s churned)',
                             @extschema@.html_escape(pl.name || '_churn'), v_version,
                             COALESCE(', trained ' || pg_catalog.to_char(v_trained, 'YYYY-MM-DD HH24:MI'), ''),
                             v_pos + v_neg, v_pos) END)
        || '</dl></header>';
    RETURN s_header;
END
$$;

COMMENT ON FUNCTION @extschema@.report_header_html(@extschema@.pipelines, bigint, bigint, bigint, integer, timestamptz, bigint, bigint) IS
'internal to report_html: the page header, the pipeline, its latest successful refresh and the failed run after it, and the counts';

CREATE FUNCTION @extschema@.report_html(pipeline text DEFAULT 'default')
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- at most this many cohorts (the latest) and periods (0 ..) in the cohort charts
    max_cohorts   constant integer := 36;
    max_periods   constant integer := 36;
    -- how far the survival chart projects beyond the data
    extra_periods constant integer := 12;
    pl            @extschema@.pipelines%ROWTYPE;
    v_name        text;
    v_by_purchase boolean;
    v_unit        text;
    co            record;
    v_incomplete  text;
    q             record;
    r             record;
    s_header      text;
    s_heatmap     text;
    s_curves      text;
    s_survival    text;
    s_drivers     text;
    s_recs        text;
    s_backtest    text;
BEGIN
    IF report_html.pipeline IS NULL THEN
        RAISE EXCEPTION 'pipeline must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO pl FROM @extschema@.pipelines AS p WHERE p.name = report_html.pipeline;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', report_html.pipeline
            USING ERRCODE = '42704', HINT = 'Pipelines are the rows of retention.pipelines.';
    END IF;
    v_name := @extschema@.html_escape(pl.name);
    v_by_purchase := pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL;
    v_unit := pl.cohort_period;

    -- (a, b) cohort retention: heatmap, curves, survival with its projection
    SELECT * INTO co FROM @extschema@.report_cohorts(pl, max_cohorts, max_periods);
    IF co.error IS NOT NULL OR co.cohorts = 0 THEN
        s_heatmap := pg_catalog.format(
            '<p class="no-data" id="cohort-heatmap-no-data">No data yet: %s.</p>',
            CASE WHEN co.error IS NOT NULL
                 THEN 'cannot read the events table ' || @extschema@.html_escape(pl.events::text)
                      || ': ' || @extschema@.html_escape(co.error)
                 ELSE 'the events table ' || @extschema@.html_escape(pl.events::text)
                      || ' has no ' || CASE WHEN v_by_purchase THEN 'purchases' ELSE 'events' END END);
        s_curves := '<p class="no-data" id="retention-curves-no-data">No data yet: no cohorts.</p>';
        s_survival := '<p class="no-data" id="survival-curves-no-data">No data yet: no cohorts.</p>';
    ELSE
        v_incomplete := @extschema@.report_incomplete_note(co.cells, v_unit, co.data_from, co.data_to);
        s_heatmap := @extschema@.report_heatmap_html(co.cells, co.cohorts, v_unit, v_by_purchase, v_incomplete);
        s_curves := @extschema@.report_curves_html(co.cells, v_unit, v_by_purchase, v_incomplete);
        s_survival := @extschema@.report_survival_html(pl, max_cohorts, max_periods, extra_periods);
    END IF;

    SELECT * INTO q FROM @extschema@.report_churn_quality_html(pl.name);     -- (c, d)
    SELECT * INTO r FROM @extschema@.report_risk_html(pl.name);              -- (e)
    s_drivers := @extschema@.report_drivers_html(pl.name);
    s_backtest := @extschema@.report_backtest_html(pl.name);         -- (e2)
    s_recs := @extschema@.report_recommendations_html(pl.name);      -- (f)
    s_header := @extschema@.report_header_html(pl, co.customers, r.scored, r.at_risk,
                                               q.model_version, q.trained_at, q.churned, q.retained);

    RETURN '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<meta name="generator" content="retention.report_html">'
        || '<title>Retention report: ' || v_name || '</title>'
        || '<style>'
        || 'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;'
        || 'color:#1e293b;background:#f8fafc;margin:0;padding:24px 32px;max-width:1320px}'
        || 'h1{font-size:24px;margin:0 0 12px}h1 .pipeline{color:#2563eb}h2{font-size:18px;margin:0 0 8px}'
        || 'h3{font-size:15px;margin:4px 0 6px}'
        || 'header,section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin-bottom:18px}'
        || 'dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0;font-size:14px}'
        || 'dt{color:#64748b}dd{margin:0;font-variant-numeric:tabular-nums}dd.failed{color:#b91c1c}'
        || '.caption{color:#475569;font-size:13px;margin:0 0 8px}'
        || '.no-data{color:#64748b;font-style:italic;background:#f1f5f9;border-radius:6px;padding:10px 14px}'
        || 'dd .no-data{padding:0 6px}'
        || '.pair{display:flex;flex-wrap:wrap;gap:24px}.pair>div{flex:0 0 auto}'
        || 'svg.chart{display:block;overflow:visible}'
        || 'svg text{font-size:11px;font-family:inherit}svg text:not([fill]){fill:#334155}'
        || 'svg .axis-title,svg .legend-title{font-size:12px;fill:#475569}'
        || 'svg .rate{font-size:10px;font-variant-numeric:tabular-nums}'
        || 'svg .cohort-label{font-variant-numeric:tabular-nums}'
        || 'svg .grid{stroke:#e2e8f0}svg .frame{stroke:#94a3b8}'
        || 'svg .diagonal{stroke:#94a3b8;stroke-dasharray:5 4}'
        || 'svg .roc{stroke:#1d4ed8;stroke-width:2.5}svg .calibration{stroke:#c2410c;stroke-width:2}'
        || 'svg .point{fill:#c2410c}svg .driver{fill:#7c3aed}'
        || 'table.metrics{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums}'
        || 'table.metrics th,table.metrics td{border-bottom:1px solid #e2e8f0;padding:6px 14px;text-align:right}'
        || 'table.metrics th:first-child{text-align:left}table.metrics thead th{color:#475569}'
        || 'table.metrics td.best{font-weight:700;color:#15803d}table.metrics td.ratio{color:#475569}'
        || 'footer{color:#94a3b8;font-size:12px}'
        || '.incomplete-legend{color:#475569;font-size:13px;margin:6px 0 0}'
        || '.swatch-incomplete{display:inline-block;width:28px;height:12px;margin-right:6px;vertical-align:middle;'
        || 'background:rgba(37,99,235,.3);border:1px dashed #475569}'
        || '.dot-incomplete{display:inline-block;width:6px;height:6px;margin:0 8px 0 4px;vertical-align:middle;'
        || 'border:1.5px solid #4e79a7;border-radius:50%;background:#fff}'
        || 'svg .data-end{stroke:#94a3b8;stroke-dasharray:2 3}'
        || '</style></head><body>'
        || s_header
        || '<section id="cohorts"><h2>Cohort retention</h2>' || s_heatmap || '</section>'
        || '<section id="curves"><h2>Retention curves</h2>' || s_curves || '</section>'
        || '<section id="survival"><h2>Survival and projection</h2>' || s_survival || '</section>'
        || '<section id="churn-model-quality"><h2>Churn model on its holdout</h2><div class="pair"><div>'
        || q.roc_html || '</div><div>' || q.calibration_html || '</div></div></section>'
        || '<section id="backtest-section"><h2>Backtest: which scores earn their place</h2>' || s_backtest || '</section>'
        || '<section id="risk"><h2>Risk distribution</h2>' || r.html || '</section>'
        || '<section id="drivers"><h2>Top churn drivers</h2>' || s_drivers || '</section>'
        || '<section id="recommendations"><h2>Recommendations: item-kNN against popularity</h2>' || s_recs || '</section>'
        || @extschema@.campaign_effects_html(pl.name)
        || '<footer>retention.report_html(' || @extschema@.html_escape(pg_catalog.quote_literal(pl.name))
        || ') at ' || pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD HH24:MI:SSOF') || '</footer>'
        || '</body></html>' || E'\n';
END
$$;

COMMENT ON FUNCTION @extschema@.report_html(text) IS
'one self-contained HTML page (inline CSS and SVG, no script, nothing fetched when viewed) on a pipeline: cohort retention heatmap and curves (incomplete periods marked), survival by cohort with its sBG projection dashed, the churn model''s ROC curve and calibration on its holdout, the backtest of every score (and why one is withheld), the churn-probability histogram, the top churn drivers, the item-kNN evaluation against popularity and each campaign''s effect against its control arm; sections without data say so';
