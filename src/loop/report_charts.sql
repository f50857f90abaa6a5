--------------------------------------------------------------------------
-- Report
--
-- report_html(pipeline) draws one self-contained HTML page from what
-- refresh() keeps: cohort retention over the events table, the churn
-- model's holdout predictions, the customer scores and the item-kNN
-- evaluation.  Inline CSS and SVG only: no script, and a Content Security
-- Policy that forbids fetching anything when the page is viewed.  Every
-- chart is an <svg class="chart" id="..."> whose marks carry a class
-- (rect.cell, polyline.curve, rect.bar, ...), so tests can count them.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.html_escape(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
               value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION @extschema@.html_escape(text) IS
'the text with & < > " and '' replaced by HTML character references, safe in element content and quoted attribute values';

--------------------------------------------------------------------------
-- report_html's parts.  Each phase of the page is a function of its own,
-- internal to report_html (they read with the caller's privileges, as
-- report_html does): the cohort rows, the heatmap, the curves, the survival
-- chart with its projection, the churn model's quality, the risk histogram,
-- the drivers, the backtest, the recommendation metrics and the header.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.report_cell AS (
    cohort_start  date,
    cohort_size   bigint,
    period_number integer,
    retained      bigint,
    rate          float8,
    complete      boolean,
    row_no        integer
);

COMMENT ON TYPE @extschema@.report_cell IS
'one cell of report_html''s cohort charts: a row of cohort_table and the chart row of its cohort (0 the oldest shown)';

-- (a) one scan of the events table for cohort_table (and a min/max of its
-- time column for the incomplete periods); errors a caller can cause by
-- dropping, altering or hiding the table come back as text
CREATE FUNCTION @extschema@.report_cohorts(pl @extschema@.pipelines, max_cohorts integer, max_periods integer,
                                            OUT cells @extschema@.report_cell[], OUT cohorts integer,
                                            OUT customers bigint, OUT data_from timestamptz,
                                            OUT data_to timestamptz, OUT error text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    by_purchase boolean := pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL;
BEGIN
    cohorts := 0;
    customers := 0;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.oid = pl.events) THEN
        error := 'the table no longer exists';
        RETURN;
    END IF;
    BEGIN
        -- the latest max_cohorts cohorts, periods 0 .. max_periods - 1; row 0 the oldest of them
        WITH ct AS (
            -- pipelines take day, week or month periods: their starts are dates
            SELECT ct.cohort_start::pg_catalog.date AS cohort_start, ct.cohort_size, ct.period_number, ct.retained,
                   ct.rate, ct.complete
              FROM @extschema@.cohort_table(pl.events, pl.cohort_period,
                       user_column => pl.user_column, time_column => pl.time_column,
                       event_column => CASE WHEN by_purchase THEN pl.event_column END,
                       start_event => CASE WHEN by_purchase THEN pl.purchase_event END,
                       return_event => CASE WHEN by_purchase THEN pl.purchase_event END) AS ct),
        coh AS (
            SELECT d.cohort_start, d.cohort_size,
                   pg_catalog.row_number() OVER (ORDER BY d.cohort_start DESC) AS back
              FROM (SELECT DISTINCT ct.cohort_start, ct.cohort_size FROM ct) AS d),
        n AS (
            SELECT pg_catalog.count(*)::integer AS cohorts, COALESCE(pg_catalog.sum(coh.cohort_size), 0)::bigint AS customers
              FROM coh)
        SELECT n.cohorts, n.customers,
               (SELECT pg_catalog.array_agg(ROW(ct.cohort_start, ct.cohort_size, ct.period_number, ct.retained, ct.rate,
                                                ct.complete, (LEAST(n.cohorts, max_cohorts) - coh.back)::integer
                                               )::@extschema@.report_cell ORDER BY ct.cohort_start, ct.period_number)
                  FROM ct JOIN coh USING (cohort_start)
                 WHERE coh.back <= max_cohorts AND ct.period_number < max_periods)
          INTO cohorts, customers, cells
          FROM n;
        -- the extent of the data, as cohort_table's complete flag sees it
        EXECUTE pg_catalog.format('SELECT pg_catalog.min(%2$I), pg_catalog.max(%2$I) FROM %3$s '
                                  'WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL',
                                  pl.user_column, pl.time_column, pl.events)
           INTO data_from, data_to;
    EXCEPTION
        WHEN insufficient_privilege OR undefined_column OR undefined_function
             OR datatype_mismatch OR invalid_parameter_value THEN
            error := SQLERRM;
    END;
END
$$;

COMMENT ON FUNCTION @extschema@.report_cohorts(@extschema@.pipelines, integer, integer) IS
'internal to report_html: the pipeline''s cohort_table as report cells (the latest max_cohorts cohorts, periods below max_periods), the number of cohorts and customers, the first and latest event time, or the error that kept the events table from being read';

-- the incomplete periods among the cells: "8.5 of 30 days (2024-09)", ...
CREATE FUNCTION @extschema@.report_incomplete_note(cohort_cells @extschema@.report_cell[], unit text,
                                                    data_from timestamptz, data_to timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s of %s %s (%s)',
               pg_catalog.round((GREATEST(0, pg_catalog.date_part('epoch',
                   LEAST(b.hi, report_incomplete_note.data_to) OPERATOR(pg_catalog.-)
                   GREATEST(b.lo, report_incomplete_note.data_from))) / b.secs)::numeric, 1),
               pg_catalog.round((pg_catalog.date_part('epoch', b.hi OPERATOR(pg_catalog.-) b.lo) / b.secs)::numeric),
               CASE WHEN unit = 'day' THEN 'hours' ELSE 'days' END,
               CASE unit WHEN 'month' THEN pg_catalog.to_char(b.ps, 'YYYY-MM')
                         WHEN 'week' THEN 'week of ' || pg_catalog.to_char(b.ps, 'YYYY-MM-DD')
                         ELSE pg_catalog.to_char(b.ps, 'YYYY-MM-DD') END),
               '; ' ORDER BY b.ps)
      FROM (SELECT p.ps, p.ps::pg_catalog.timestamptz AS lo,
                   (p.ps OPERATOR(pg_catalog.+) ('1 ' OPERATOR(pg_catalog.||) unit)::pg_catalog.interval)::pg_catalog.timestamptz AS hi,
                   CASE WHEN unit = 'day' THEN 3600.0 ELSE 86400.0 END AS secs
              FROM (SELECT DISTINCT (c.cohort_start OPERATOR(pg_catalog.+)
                                     (c.period_number::text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) unit)::pg_catalog.interval
                                    )::pg_catalog.date AS ps
                      FROM pg_catalog.unnest(cohort_cells) AS c
                     WHERE NOT c.complete) AS p) AS b
$$;

COMMENT ON FUNCTION @extschema@.report_incomplete_note(@extschema@.report_cell[], text, timestamptz, timestamptz) IS
'internal to report_html: the calendar periods of the incomplete cells, each as "N of M days (period)" (hours for daily periods), or NULL when every cell is complete';

-- (a) the heatmap: a rect.cell and a text.rate per cell; incomplete cells lighter, with a dashed border
CREATE FUNCTION @extschema@.report_heatmap_html(cohort_cells @extschema@.report_cell[], cohorts integer, unit text,
                                                 by_purchase boolean, incomplete text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shown   integer;
    v_periods integer;
    v_scale   float8;
    v_cw      integer;
    v_w       integer;
    v_h       integer;
    s_heatmap text;
BEGIN
    SELECT pg_catalog.count(DISTINCT c.row_no)::integer, pg_catalog.max(c.period_number) + 1,
           pg_catalog.max(c.rate) FILTER (WHERE c.period_number > 0)
      INTO v_shown, v_periods, v_scale
      FROM pg_catalog.unnest(cohort_cells) AS c;
    v_scale := CASE WHEN v_scale > 0 THEN v_scale ELSE 1 END;
    v_cw := LEAST(64, GREATEST(30, 1000 / v_periods));
    v_w := 190 + v_periods * v_cw + 20;
    v_h := 44 + v_shown * 24 + 56;

    WITH cells AS (
        SELECT c.*, LEAST(1.0, GREATEST(0.0, c.rate / v_scale)) AS t
          FROM pg_catalog.unnest(cohort_cells) AS c)
    SELECT pg_catalog.format('<svg class="chart" id="cohort-heatmap" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %1$s %2$s" role="img" aria-label="cohort retention heatmap">',
                             v_w, v_h)
        -- column headers: periods since the cohort's start
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="period-label" x="%s" y="36" text-anchor="middle">%s</text>',
                    190 + g * v_cw + v_cw / 2, g), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, v_periods - 1) AS g)
        || pg_catalog.format('<text class="axis-title" x="%s" y="14" text-anchor="middle">%ss since the first %s</text>',
                             190 + v_periods * v_cw / 2, unit,
                             CASE WHEN by_purchase THEN 'purchase' ELSE 'event' END)
        -- row headers: cohort start and size
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="cohort-label" x="182" y="%s" text-anchor="end">%s  (%s)</text>',
                    44 + r.row_no * 24 + 16,
                    pg_catalog.to_char(r.cohort_start, CASE unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END),
                    r.cohort_size), '' ORDER BY r.row_no)
              FROM (SELECT DISTINCT cells.row_no, cells.cohort_start, cells.cohort_size FROM cells) AS r)
        -- one rect.cell and one text.rate per (cohort, period)
        || pg_catalog.string_agg(pg_catalog.format(
               '<rect class="cell" x="%s" y="%s" width="%s" height="22" fill="%s"%s><title>cohort %s, %s %s: %s of %s retained (%s%%)%s</title></rect>'
               '<text class="rate" x="%s" y="%s" text-anchor="middle" fill="%s">%s%%</text>',
               190 + cells.period_number * v_cw, 44 + cells.row_no * 24, v_cw - 2,
               CASE WHEN cells.period_number = 0 THEN '#e2e8f0'
                    ELSE pg_catalog.format('rgb(%s,%s,%s)',
                             pg_catalog.round(240 - cells.t * 232), pg_catalog.round(249 - cells.t * 201),
                             pg_catalog.round(255 - cells.t * 148)) END,
               CASE WHEN cells.complete THEN ''
                    ELSE ' fill-opacity="0.45" stroke="#475569" stroke-dasharray="3 2" data-complete="false"' END,
               cells.cohort_start, unit, cells.period_number, cells.retained, cells.cohort_size,
               pg_catalog.round((cells.rate * 100)::numeric, 2),
               CASE WHEN cells.complete THEN '' ELSE '; incomplete period, so far' END,
               190 + cells.period_number * v_cw + (v_cw - 2) / 2, 44 + cells.row_no * 24 + 15,
               CASE WHEN cells.period_number > 0 AND cells.t > 0.55 AND cells.complete THEN '#ffffff' ELSE '#1e293b' END,
               pg_catalog.round((cells.rate * 100)::numeric, CASE WHEN v_cw >= 44 THEN 1 ELSE 0 END)),
               '' ORDER BY cells.row_no, cells.period_number)
        -- legend: the colour scale
        || pg_catalog.format('<text class="legend-title" x="190" y="%s">colour: retention rate, from 0 to the highest after period 0 (%s%%); period 0 is the cohort itself</text>',
                             v_h - 34, pg_catalog.round((v_scale * 100)::numeric, 1))
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<rect class="legend-swatch" x="%s" y="%s" width="48" height="12" fill="rgb(%s,%s,%s)"/>'
                    '<text class="legend-label" x="%s" y="%s">%s%%</text>',
                    190 + i * 70, v_h - 26,
                    pg_catalog.round(240 - i / 5.0 * 232), pg_catalog.round(249 - i / 5.0 * 201),
                    pg_catalog.round(255 - i / 5.0 * 148),
                    190 + i * 70, v_h - 4, pg_catalog.round((v_scale * i / 5.0 * 100)::numeric, 1)), '' ORDER BY i)
              FROM pg_catalog.generate_series(0, 5) AS i)
        || '</svg>'
      INTO s_heatmap
      FROM cells;

    RETURN pg_catalog.format(
        '<p class="caption">Share of customers %s again, by %s of first %s (cohort) and %ss since%s.  Hover a cell for its counts.</p>',
        CASE WHEN by_purchase THEN 'who purchased' ELSE 'active' END,
        unit, CASE WHEN by_purchase THEN 'purchase' ELSE 'activity' END, unit,
        CASE WHEN cohorts > v_shown
             THEN pg_catalog.format('; the latest %s of %s cohorts', v_shown, cohorts) ELSE '' END)
        || s_heatmap
        || COALESCE('<p class="incomplete-legend" id="cohort-heatmap-incomplete"><span class="swatch-incomplete"></span>'
                    || 'lighter cells with a dashed border: incomplete: ' || incomplete
                    || '; their rates count only the days so far.</p>', '');
END
$$;

COMMENT ON FUNCTION @extschema@.report_heatmap_html(@extschema@.report_cell[], integer, text, boolean, text) IS
'internal to report_html: the cohort heatmap (caption, svg#cohort-heatmap, and the legend of incomplete periods when there are any)';

-- the colour of cohort row_no of shown: ten distinct colours for up to ten
-- cohorts, else a sweep of hues from blue to red in three lightnesses
CREATE FUNCTION @extschema@.report_cohort_colour(row_no integer, shown integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN row_no < 10 AND shown <= 10
                THEN (ARRAY['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                            '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#7f7f7f'])[row_no + 1]
                ELSE pg_catalog.format('hsl(%s,60%%,%s%%)',
                         pg_catalog.round((210 - 190.0 * row_no / GREATEST(shown - 1, 1))::numeric),
                         35 + (row_no % 3) * 10) END
$$;

COMMENT ON FUNCTION @extschema@.report_cohort_colour(integer, integer) IS
'internal to report_html: the line colour of cohort row_no when shown cohorts are drawn';

-- (b) retention curves: one polyline per cohort over periods 1 .., on a
-- scale that fits them (period 0 is 100% by definition); incomplete points hollow
CREATE FUNCTION @extschema@.report_curves_html(cohort_cells @extschema@.report_cell[], unit text,
                                                by_purchase boolean, incomplete text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shown   integer;
    v_periods integer;
    v_scale   float8;
    v_ymax    float8;
    s_curves  text;
BEGIN
    SELECT pg_catalog.count(DISTINCT c.row_no)::integer, pg_catalog.max(c.period_number) + 1,
           pg_catalog.max(c.rate) FILTER (WHERE c.period_number > 0)
      INTO v_shown, v_periods, v_scale
      FROM pg_catalog.unnest(cohort_cells) AS c;
    IF v_periods < 2 THEN
        RETURN '<p class="no-data" id="retention-curves-no-data">No data yet: no cohort has reached period 1.</p>';
    END IF;
    v_scale := CASE WHEN v_scale > 0 THEN v_scale ELSE 1 END;
    v_ymax := CASE WHEN v_scale <= 0.5 THEN pg_catalog.ceil(v_scale * 20 - 1e-9) / 20.0
                   ELSE pg_catalog.ceil(v_scale * 10 - 1e-9) / 10.0 END;
    v_ymax := GREATEST(v_ymax, 0.05);
    WITH pts AS (
        SELECT c.*,
               60 + (c.period_number - 1) * 640.0 / GREATEST(v_periods - 2, 1) AS x,
               20 + 300 * (1 - LEAST(c.rate, v_ymax) / v_ymax) AS y,
               @extschema@.report_cohort_colour(c.row_no, v_shown) AS colour
          FROM pg_catalog.unnest(cohort_cells) AS c
         WHERE c.period_number >= 1),
    lines AS (
        SELECT pts.row_no, pts.cohort_start, pts.colour,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(pts.x::numeric, 1),
                                                       pg_catalog.round(pts.y::numeric, 1)),
                                     ' ' ORDER BY pts.period_number) AS points,
               pg_catalog.string_agg(pg_catalog.format(
                   '<circle class="dot" cx="%s" cy="%s" r="2.5" fill="%s"%s><title>cohort %s, %s %s: %s%%%s</title></circle>',
                   pg_catalog.round(pts.x::numeric, 1), pg_catalog.round(pts.y::numeric, 1),
                   CASE WHEN pts.complete THEN pts.colour ELSE '#ffffff' END,
                   CASE WHEN pts.complete THEN ''
                        ELSE pg_catalog.format(' stroke="%s" stroke-width="1.5" data-complete="false"', pts.colour) END,
                   pts.cohort_start, unit, pts.period_number,
                   pg_catalog.round((pts.rate * 100)::numeric, 2),
                   CASE WHEN pts.complete THEN '' ELSE ', incomplete period, so far' END),
                   '' ORDER BY pts.period_number) AS dots
          FROM pts
         GROUP BY pts.row_no, pts.cohort_start, pts.colour)
    SELECT '<svg class="chart" id="retention-curves" xmlns="http://www.w3.org/2000/svg" width="900" height="360" viewBox="0 0 900 360" role="img" aria-label="retention curves">'
        -- horizontal grid and y labels
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<line class="grid" x1="60" x2="700" y1="%s" y2="%1$s"/><text class="tick" x="54" y="%s" text-anchor="end">%s%%</text>',
                    20 + 300 - g * 60, 20 + 300 - g * 60 + 4, pg_catalog.round((v_ymax * g / 5 * 100)::numeric, 1)),
                    '' ORDER BY g)
              FROM pg_catalog.generate_series(0, 5) AS g)
        -- x ticks: every period, or about a dozen
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="tick" x="%s" y="338" text-anchor="middle">%s</text>',
                    pg_catalog.round((60 + (g - 1) * 640.0 / GREATEST(v_periods - 2, 1))::numeric, 1), g),
                    '' ORDER BY g)
              FROM pg_catalog.generate_series(1, v_periods - 1) AS g
             WHERE (g - 1) % GREATEST(1, pg_catalog.ceil((v_periods - 1) / 12.0)::integer) = 0)
        || pg_catalog.format('<text class="axis-title" x="380" y="356" text-anchor="middle">%ss since the first %s</text>',
                             unit, CASE WHEN by_purchase THEN 'purchase' ELSE 'event' END)
        || pg_catalog.string_agg(pg_catalog.format(
               '<polyline class="curve" fill="none" stroke="%s" stroke-width="2" points="%s"><title>cohort %s</title></polyline>%s',
               lines.colour, lines.points, lines.cohort_start, lines.dots), '' ORDER BY lines.row_no)
        -- legend: every cohort when there are few, else the first and the last
        || pg_catalog.string_agg(
               CASE WHEN v_shown <= 14 OR lines.row_no IN (0, v_shown - 1) THEN
                   pg_catalog.format('<line class="legend-line" x1="720" x2="744" y1="%s" y2="%1$s" stroke="%s" stroke-width="3"/><text class="legend-label" x="750" y="%s">%s</text>',
                                     20 + LEAST(lines.row_no, 14) * 20, lines.colour,
                                     20 + LEAST(lines.row_no, 14) * 20 + 4,
                                     pg_catalog.to_char(lines.cohort_start, CASE unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END))
               ELSE '' END, '' ORDER BY lines.row_no)
        || '</svg>'
      INTO s_curves
      FROM lines;
    RETURN '<p class="caption">Each line is a cohort: the share of its customers retained in each later '
           || unit || ' (period 0, 100% by definition, is left out so that the scale fits).</p>'
           || s_curves
           || COALESCE('<p class="incomplete-legend" id="retention-curves-incomplete"><span class="dot-incomplete"></span>'
                       || 'hollow dots: incomplete: ' || incomplete || '; their rates count only the days so far.</p>', '');
END
$$;

COMMENT ON FUNCTION @extschema@.report_curves_html(@extschema@.report_cell[], text, boolean, text) IS
'internal to report_html: the retention curves (caption, svg#retention-curves, and the legend of incomplete periods when there are any)';

-- (b2) the survivor matrix for the projection: unbounded retention (active
-- in period k or later, so counts never rise), each cohort's incomplete last
-- period censored (left NULL): a part of a period is not its survivors
CREATE FUNCTION @extschema@.report_survivor_matrix(pl @extschema@.pipelines)
RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ct AS (
        SELECT ct.cohort_start::pg_catalog.date AS cohort_start, ct.cohort_size, ct.period_number, ct.retained, ct.complete
          FROM @extschema@.cohort_table(pl.events, pl.cohort_period, unbounded => true,
                   user_column => pl.user_column, time_column => pl.time_column,
                   event_column => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.event_column END,
                   start_event => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.purchase_event END,
                   return_event => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.purchase_event END) AS ct),
    obs AS (
        SELECT ct.cohort_start, ct.cohort_size,
               pg_catalog.array_agg(ct.retained ORDER BY ct.period_number)
                   FILTER (WHERE ct.complete OR ct.period_number = 0) AS r
          FROM ct GROUP BY ct.cohort_start, ct.cohort_size),
    w AS (SELECT pg_catalog.max(pg_catalog.cardinality(obs.r)) AS width FROM obs)
    SELECT pg_catalog.array_agg(ARRAY[(obs.cohort_start OPERATOR(pg_catalog.-) DATE '2000-01-01')::bigint, obs.cohort_size]
                                OPERATOR(pg_catalog.||) obs.r
                                OPERATOR(pg_catalog.||) pg_catalog.array_fill(NULL::bigint,
                                                            ARRAY[w.width OPERATOR(pg_catalog.-) pg_catalog.cardinality(obs.r)])
                                ORDER BY obs.cohort_start)
      FROM obs, w
$$;

COMMENT ON FUNCTION @extschema@.report_survivor_matrix(@extschema@.pipelines) IS
'internal to report_html: the pipeline''s cohorts as a cohort_matrix of survivor counts (unbounded retention), each cohort''s incomplete last period left out (NULL), for cohort_projection';

-- (b2) survival: per cohort its observed survivors (solid) and the sBG
-- projection of cohort_projection (dashed, from its last complete period to
-- the horizon); over all cohorts the Kaplan-Meier curve and its sBG projection
CREATE FUNCTION @extschema@.report_survival_html(pl @extschema@.pipelines, max_cohorts integer, max_periods integer,
                                                  extra_periods integer)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
-- the caption says what sbg_fit would warn about (no model, no convergence)
SET client_min_messages = error
AS $$
DECLARE
    v_matrix  bigint[];
    v_km      @extschema@.survival_curve;
    v_sbg     @extschema@.sbg_model;
    v_last    integer;
    v_horizon integer;
    v_shown   integer;
    v_error   text;
    s_chart   text;
BEGIN
    BEGIN
        v_matrix := @extschema@.report_survivor_matrix(pl);
        -- lost during period t: (t, true); still there after the last period L: (L, false)
        WITH r AS (SELECT * FROM @extschema@.cohort_rows(v_matrix)),
             last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC),
             g AS (SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS customers
                     FROM r AS a JOIN r AS b
                       ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
                   UNION ALL
                   SELECT last.period_number, false, last.retained FROM last)
        SELECT @extschema@.km_fit(g.t::float8, g.churned, g.customers::float8) FILTER (WHERE g.customers > 0),
               @extschema@.sbg_fit(g.t, g.churned, g.customers) FILTER (WHERE g.customers > 0),
               pg_catalog.max(g.t)
          INTO v_km, v_sbg, v_last
          FROM g;
    EXCEPTION
        WHEN insufficient_privilege OR undefined_column OR undefined_function
             OR datatype_mismatch OR invalid_parameter_value OR numeric_value_out_of_range THEN
            v_error := SQLERRM;
    END;
    IF v_error IS NOT NULL THEN
        RETURN '<p class="no-data" id="survival-curves-no-data">No data yet: cannot project the cohorts: '
               || @extschema@.html_escape(v_error) || '.</p>';
    ELSIF v_km IS NULL OR v_last IS NULL OR v_last < 1 THEN
        RETURN '<p class="no-data" id="survival-curves-no-data">No data yet: no cohort has a complete period after period 0.</p>';
    END IF;
    v_horizon := v_last + extra_periods;
    v_shown := LEAST(pg_catalog.array_length(v_matrix, 1), max_cohorts);

    WITH proj AS (
        SELECT p.*, (v_shown - pg_catalog.dense_rank() OVER (ORDER BY p.cohort_start DESC))::integer AS row_no
          FROM @extschema@.cohort_projection(v_matrix, v_horizon) AS p),
    pts AS (
        SELECT proj.*,
               60 + proj.period_number * 640.0 / v_horizon AS x,
               20 + 300 * (1 - LEAST(GREATEST(proj.rate, 0), 1)) AS y,
               @extschema@.report_cohort_colour(proj.row_no, v_shown) AS colour
          FROM proj
         WHERE proj.row_no >= 0 AND proj.period_number <= v_horizon),
    -- each cohort's projection starts at its last observed point
    seg AS (
        SELECT pts.*, pts.period_number = pg_catalog.max(pts.period_number) FILTER (WHERE NOT pts.projected)
                                            OVER (PARTITION BY pts.cohort_start) AS last_observed
          FROM pts),
    lines AS (
        SELECT seg.row_no, seg.cohort_start, seg.colour,
               pg_catalog.max(seg.period_number) FILTER (WHERE seg.last_observed) AS from_period,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(seg.x::numeric, 1), pg_catalog.round(seg.y::numeric, 1)),
                                     ' ' ORDER BY seg.period_number) FILTER (WHERE NOT seg.projected) AS observed,
               pg_catalog.string_agg(pg_catalog.round(seg.rate::numeric, 4)::text, ' ' ORDER BY seg.period_number)
                   FILTER (WHERE NOT seg.projected) AS observed_rates,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(seg.x::numeric, 1), pg_catalog.round(seg.y::numeric, 1)),
                                     ' ' ORDER BY seg.period_number) FILTER (WHERE seg.projected OR seg.last_observed) AS projected,
               pg_catalog.string_agg(pg_catalog.round(seg.rate::numeric, 4)::text, ' ' ORDER BY seg.period_number)
                   FILTER (WHERE seg.projected OR seg.last_observed) AS projected_rates,
               pg_catalog.bool_or(seg.projected) AS has_projection
          FROM seg
         GROUP BY seg.row_no, seg.cohort_start, seg.colour),
    -- all cohorts: Kaplan-Meier up to the last complete period, then the sBG model from there
    km AS (
        SELECT k, CASE WHEN k <= v_last THEN @extschema@.survival_at(v_km, k)
                       ELSE @extschema@.survival_at(v_km, v_last) * @extschema@.sbg_survival(v_sbg, k)
                            / @extschema@.sbg_survival(v_sbg, v_last) END AS s
          FROM pg_catalog.generate_series(0, v_horizon) AS k
         WHERE k <= v_last OR v_sbg IS NOT NULL),
    kmp AS (
        SELECT km.k, km.s, pg_catalog.format('%s,%s', pg_catalog.round((60 + km.k * 640.0 / v_horizon)::numeric, 1),
                                             pg_catalog.round((20 + 300 * (1 - km.s))::numeric, 1)) AS xy
          FROM km)
    SELECT pg_catalog.format('<svg class="chart" id="survival-curves" xmlns="http://www.w3.org/2000/svg" width="900" height="360" viewBox="0 0 900 360" role="img" aria-label="%s">',
                             'survival curves: observed survivors solid, the sBG model''s projection dashed')
        || '<title>Survival by cohort: observed (solid) and projected by the sBG model (dashed)</title>'
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<line class="grid" x1="60" x2="700" y1="%s" y2="%1$s"/><text class="tick" x="54" y="%s" text-anchor="end">%s%%</text>',
                    20 + 300 - g * 60, 20 + 300 - g * 60 + 4, g * 20), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, 5) AS g)
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="tick" x="%s" y="338" text-anchor="middle">%s</text>',
                    pg_catalog.round((60 + g * 640.0 / v_horizon)::numeric, 1), g), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, v_horizon) AS g
             WHERE g % GREATEST(1, pg_catalog.ceil(v_horizon / 12.0)::integer) = 0)
        || pg_catalog.format('<line class="data-end" x1="%s" x2="%1$s" y1="20" y2="320"/><text class="tick" x="%1$s" y="14" text-anchor="middle">data end</text>',
                             pg_catalog.round((60 + v_last * 640.0 / v_horizon)::numeric, 1))
        || pg_catalog.format('<text class="axis-title" x="380" y="356" text-anchor="middle">%ss since the first %s</text>',
                             pl.cohort_period, CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL
                                                    THEN 'purchase' ELSE 'event' END)
        || pg_catalog.string_agg(pg_catalog.format(
               '<polyline class="survival" data-cohort="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-opacity="0.75" points="%s" data-rates="%s"><title>cohort %s: observed survivors, periods 0 to %s</title></polyline>',
               lines.cohort_start, lines.colour, lines.observed, lines.observed_rates, lines.cohort_start, lines.from_period)
               || CASE WHEN lines.has_projection THEN pg_catalog.format(
               '<polyline class="projection" data-cohort="%s" data-from-period="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4" points="%s" data-rates="%s"><title>cohort %s: projected by the sBG model from period %s to %s</title></polyline>',
               lines.cohort_start, lines.from_period, lines.colour, lines.projected, lines.projected_rates,
               lines.cohort_start, lines.from_period, v_horizon) ELSE '' END,
               '' ORDER BY lines.row_no)
        || (SELECT pg_catalog.format(
                   '<polyline class="km" fill="none" stroke="#be185d" stroke-width="3" points="%s" data-survival="%s"><title>all cohorts: Kaplan–Meier survival, periods 0 to %s</title></polyline>',
                   pg_catalog.string_agg(kmp.xy, ' ' ORDER BY kmp.k),
                   pg_catalog.string_agg(pg_catalog.round(kmp.s::numeric, 4)::text, ' ' ORDER BY kmp.k), v_last)
              FROM kmp WHERE kmp.k <= v_last)
        || COALESCE((SELECT pg_catalog.format(
                   '<polyline class="km-projection" data-from-period="%s" fill="none" stroke="#be185d" stroke-width="3" stroke-dasharray="9 5" points="%s" data-survival="%s"><title>all cohorts: projected by the sBG model from period %1$s to %4$s</title></polyline>',
                   v_last, pg_catalog.string_agg(kmp.xy, ' ' ORDER BY kmp.k),
                   pg_catalog.string_agg(pg_catalog.round(kmp.s::numeric, 4)::text, ' ' ORDER BY kmp.k), v_horizon)
              FROM kmp WHERE kmp.k >= v_last HAVING pg_catalog.count(*) > 1), '')
        -- legend
        || '<line class="legend-line" x1="720" x2="744" y1="24" y2="24" stroke="#be185d" stroke-width="3"/><text class="legend-label" x="750" y="28">Kaplan–Meier, all cohorts</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="44" y2="44" stroke="#be185d" stroke-width="3" stroke-dasharray="9 5"/><text class="legend-label" x="750" y="48">sBG projection</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="64" y2="64" stroke="#64748b" stroke-width="1.5"/><text class="legend-label" x="750" y="68">a cohort, observed</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="84" y2="84" stroke="#64748b" stroke-width="1.5" stroke-dasharray="6 4"/><text class="legend-label" x="750" y="88">a cohort, projected</text>'
        || '</svg>'
      INTO s_chart
      FROM lines;

    RETURN pg_catalog.format(
        '<p class="caption">Share of each cohort still active in a %s or later (solid), and where the data ends, the sBG model fitted to all cohorts carrying it on for %s %ss (dashed)%s; the thick line pools the cohorts (Kaplan–Meier).  A cohort''s incomplete last %s is left out: its survivors are not counted yet.</p>',
        pl.cohort_period, extra_periods, pl.cohort_period,
        CASE WHEN v_sbg IS NULL THEN ' — no projection: nobody was lost, so there is no sBG model'
             ELSE pg_catalog.format(' (α = %s, β = %s)', pg_catalog.round(((v_sbg::jsonb) ->> 'alpha')::numeric, 3),
                                   pg_catalog.round(((v_sbg::jsonb) ->> 'beta')::numeric, 3))
                  || CASE WHEN ((v_sbg::jsonb) ->> 'converged')::boolean THEN ''
                          ELSE ', a fit that did not converge: read the projection with care' END END,
        pl.cohort_period)
        || s_chart;
END
$$;

COMMENT ON FUNCTION @extschema@.report_survival_html(@extschema@.pipelines, integer, integer, integer) IS
'internal to report_html: svg#survival-curves, each cohort''s observed survivors (unbounded retention) and its cohort_projection beyond them dashed, the Kaplan-Meier curve of all cohorts and its sBG projection dashed';

-- (c, d) the churn model on its holdout
