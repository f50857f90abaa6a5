# shellcheck shell=bash
#
# test/loop/report_browser.sh: retention.report_html in a real browser.  Fills a
# database with fixture events, holdout predictions, scores, an item-kNN
# evaluation and a refresh history, writes the report to an HTML file and
# opens it in headless Chromium (Debian's chromium package) twice: once to
# dump the DOM the browser built, once to take a 1400x3000 screenshot.  The
# checks: the DOM holds every chart with the number of marks the fixtures
# call for (counted independently, from the database), and the screenshot is
# a real picture with each chart's own colour in it.  Sourced by
# scripts/test, which has started the cluster; reports through the
# variables browser_passed and browser_failed.
#
# RETENTION_CHROMIUM: the browser (default /usr/bin/chromium, else chromium
# on PATH).  Without one the stage is skipped, except under CI=true where
# that counts as a failure.
# RETENTION_REPORT_DIR: when set, the HTML, DOM and screenshot are kept there.

browser_passed=0
browser_failed=0

# report_check DESCRIPTION EXPECTED ACTUAL
report_check() {
	if [ "$2" = "$3" ]; then
		browser_passed=$((browser_passed + 1))
		printf 'ok - %s\n' "$1"
	else
		browser_failed=$((browser_failed + 1))
		printf 'not ok - %s: expected %s, got %s\n' "$1" "$2" "$3"
	fi
}

# report_count FILE REGEX: the number of matches in FILE
report_count() {
	{ grep -oE "$2" "$1" || true; } | wc -l | tr -d ' '
}

# report_query SQL: one value from the fixture database
report_query() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d retention_report -c "SET timezone = 'UTC'" -c "$1"
}

# report_png_colours PNG HEX...: "WIDTH HEIGHT DISTINCT_COLOURS" and, per
# colour asked for, "yes" or "no": an exact pixel of it is in the image.  A
# plain PNG decoder (8-bit RGB or RGBA, not interlaced), standard library only.
report_png_colours() {
	python3 - "$@" <<-'PY'
		import struct, sys, zlib
		data = open(sys.argv[1], 'rb').read()
		if data[:8] != b'\x89PNG\r\n\x1a\n':
		    print('0 0 0'); sys.exit(0)
		pos, idat, hdr = 8, [], None
		while pos + 8 <= len(data):
		    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
		    body = data[pos + 8:pos + 8 + n]
		    if kind == b'IHDR':
		        hdr = struct.unpack('>IIBBBBB', body)
		    elif kind == b'IDAT':
		        idat.append(body)
		    pos += 12 + n
		w, h, depth, ctype, _, _, interlace = hdr
		if depth != 8 or interlace != 0 or ctype not in (2, 6):
		    print(w, h, 0); sys.exit(0)
		bpp = 3 if ctype == 2 else 4
		raw = zlib.decompress(b''.join(idat))
		stride = w * bpp
		prev = bytearray(stride)
		seen = set()
		for y in range(h):
		    f = raw[y * (stride + 1)]
		    cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
		    if f == 1:
		        for i in range(bpp, stride):
		            cur[i] = (cur[i] + cur[i - bpp]) & 255
		    elif f == 2:
		        cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
		    elif f == 3:
		        for i in range(stride):
		            cur[i] = (cur[i] + ((cur[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
		    elif f == 4:
		        for i in range(stride):
		            a = cur[i - bpp] if i >= bpp else 0
		            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
		            p = a + b - c
		            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
		            cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
		    seen.update(bytes(cur[i:i + 3]) for i in range(0, stride, bpp))
		    prev = cur
		print(w, h, len(seen), *('yes' if bytes.fromhex(c) in seen else 'no' for c in sys.argv[2:]))
	PY
}

# report_polylines DOM CLASS ATTR: per polyline of that class, in document
# order, "data-cohort first-point last-point value-of-ATTR"
report_polylines() {
	python3 - "$@" <<-'PY'
		import re, sys
		dom = open(sys.argv[1]).read()
		for m in re.finditer(r'<polyline class="%s"([^>]*)>' % re.escape(sys.argv[2]), dom):
		    a = dict(re.findall(r'([a-z-]+)="([^"]*)"', m.group(1)))
		    pts = a.get('points', '').split()
		    print(a.get('data-cohort', '-'), pts[0] if pts else '-', pts[-1] if pts else '-',
		          a.get(sys.argv[3], '').replace(' ', ','))
	PY
}

# the survival chart: each cohort's observed survivors (unbounded retention,
# the incomplete last period left out) and its projection by
# cohort_projection, dashed, from where its observed line ends; the
# Kaplan-Meier curve of all cohorts and its sBG projection.  The expected
# values come from the SQL functions (cohort_table, cohort_projection,
# km_fit, survival_at, sbg_fit, sbg_survival) over a survivor matrix built here.
report_survival_checks() {
	local dom=$1 expected actual
	report_query "CREATE TABLE survivors AS
		WITH ct AS (SELECT * FROM retention.cohort_table('report_events', 'month', unbounded => true,
		                event_column => 'event_type', start_event => 'purchase', return_event => 'purchase')),
		     obs AS (SELECT cohort_start, cohort_size, array_agg(retained ORDER BY period_number)
		                        FILTER (WHERE complete OR period_number = 0) AS r
		               FROM ct GROUP BY 1, 2)
		SELECT array_agg(ARRAY[cohort_start::date - date '2000-01-01', cohort_size]::bigint[] || r
		                 || array_fill(NULL::bigint, ARRAY[(SELECT max(cardinality(r)) FROM obs) - cardinality(r)])
		                 ORDER BY cohort_start) AS m
		  FROM obs;
		CREATE TABLE survivor_rows AS
		WITH r AS (SELECT * FROM retention.cohort_rows((SELECT m FROM survivors))),
		     last AS (SELECT DISTINCT ON (cohort_start) * FROM r ORDER BY cohort_start, period_number DESC)
		SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS n
		  FROM r a JOIN r b ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
		UNION ALL SELECT period_number, false, retained FROM last;
		CREATE TABLE survival_fit AS
		SELECT retention.km_fit(t, churned, n) FILTER (WHERE n > 0) AS km,
		       retention.sbg_fit(t, churned, n) FILTER (WHERE n > 0) AS sbg, max(t) AS last
		  FROM survivor_rows;" >/dev/null 2>&1

	expected=$(report_query "SELECT array_length(m, 1) FROM survivors")
	report_check "DOM: one polyline.survival per cohort" "$expected" "$(report_count "$dom" '<polyline class="survival"')"
	expected=$(report_query "SELECT string_agg(cohort_start || ' ' || rates, E'\n' ORDER BY cohort_start)
		  FROM (SELECT p.cohort_start, string_agg(round(p.rate::numeric, 4)::text, ',' ORDER BY p.period_number) AS rates
		          FROM retention.cohort_projection((SELECT m FROM survivors), (SELECT last + 12 FROM survival_fit)) AS p
		         WHERE p.projected OR p.period_number = (SELECT max(q.period_number) FROM retention.cohort_rows((SELECT m FROM survivors)) q
		                                                  WHERE q.cohort_start = p.cohort_start)
		         GROUP BY p.cohort_start HAVING bool_or(p.projected)) AS x")
	actual=$(report_polylines "$dom" projection data-rates | awk '{print $1, $4}')
	report_check "DOM: one dashed projection per cohort with cohort_projection's rates" yes \
		"$([ -n "$expected" ] && [ "$expected" = "$actual" ] && echo yes || echo "no: [$actual] vs [$expected]")"
	report_check "DOM: the projections are dashed" "$(report_count "$dom" '<polyline class="projection"')" \
		"$(report_count "$dom" '<polyline class="projection"[^>]*stroke-dasharray="6 4"')"
	# each projection's first point is the last point of its cohort's observed line
	actual=$(join <(report_polylines "$dom" survival data-rates | awk '{print $1, $3}' | sort) \
	              <(report_polylines "$dom" projection data-rates | awk '{print $1, $2}' | sort) |
		awk '$2 != $3 {bad++} END {print NR, bad + 0}')
	report_check "DOM: every projection starts where its cohort's observed line ends" \
		"$(report_count "$dom" '<polyline class="projection"') 0" "$actual"

	expected=$(report_query "SELECT string_agg(round(retention.survival_at(km, k)::numeric, 4)::text, ',' ORDER BY k)
		  FROM survival_fit, generate_series(0, last) AS k")
	report_check "DOM: the Kaplan-Meier line has survival_at(km_fit) per period" "$expected" \
		"$(report_polylines "$dom" km data-survival | awk '{print $4}')"
	expected=$(report_query "SELECT string_agg(round((retention.survival_at(km, last) * retention.sbg_survival(sbg, k)
		                                             / retention.sbg_survival(sbg, last))::numeric, 4)::text, ',' ORDER BY k)
		  FROM survival_fit, generate_series(last, last + 12) AS k")
	report_check "DOM: the dashed sBG projection of all cohorts, from the Kaplan-Meier line's end" "$expected" \
		"$(report_polylines "$dom" km-projection data-survival | awk '{print $4}')"
	report_check "DOM: the sBG projection starts at the Kaplan-Meier line's last point" \
		"$(report_polylines "$dom" km data-survival | awk '{print $3}')" \
		"$(report_polylines "$dom" km-projection data-survival | awk '{print $2}')"
	report_check "DOM: the survival chart is labelled for assistive technology" 1 \
		"$(report_count "$dom" '<svg class="chart" id="survival-curves"[^>]*role="img" aria-label="survival curves: observed survivors solid, the sBG model.s projection dashed"')"
}

# incomplete periods: the cells cohort_table flags incomplete drawn apart,
# and a legend with how many days of each such period the data holds
report_incomplete_checks() {
	local dom=$1 expected
	expected=$(report_query "SELECT count(*) FROM retention.cohort_table('report_events', 'month', event_column => 'event_type',
	                  start_event => 'purchase', return_event => 'purchase') WHERE NOT complete")
	report_check "DOM: incomplete cells drawn apart (cohort_table's complete = false)" "$expected" \
		"$(report_count "$dom" '<rect class="cell"[^>]*data-complete="false"')"
	report_check "DOM: the incomplete cells are lighter and dashed" "$expected" \
		"$(report_count "$dom" '<rect class="cell"[^>]*fill-opacity="0.45" stroke="#475569" stroke-dasharray="3 2" data-complete="false"')"
	# the fixture's data run from its first to its latest event: the first
	# and the last month are only partly inside them
	expected=$(report_query "SELECT 'incomplete: ' || round(extract(epoch FROM date_trunc('month', min(ts)) + interval '1 month' - min(ts)) / 86400, 1)
	                  || ' of ' || extract(day FROM date_trunc('month', min(ts)) + interval '1 month' - date_trunc('month', min(ts)))
	                  || ' days (' || to_char(min(ts), 'YYYY-MM') || '); '
	                  || round(extract(epoch FROM max(ts) - date_trunc('month', max(ts))) / 86400, 1)
	                  || ' of ' || extract(day FROM date_trunc('month', max(ts)) + interval '1 month' - date_trunc('month', max(ts)))
	                  || ' days (' || to_char(max(ts), 'YYYY-MM') || ')' FROM report_events")
	report_check "DOM: the legend says how much of each incomplete month the data holds" 1 \
		"$({ grep -oF "id=\"cohort-heatmap-incomplete\"><span class=\"swatch-incomplete\"></span>lighter cells with a dashed border: $expected;" "$dom" || true; } | wc -l | tr -d ' ')"
}

retention_report_browser() {
	local chromium=${RETENTION_CHROMIUM:-}
	local dir html dom png id i expected
	local -a flags colours png_info

	if [ -z "$chromium" ]; then
		if [ -x /usr/bin/chromium ]; then
			chromium=/usr/bin/chromium
		else
			chromium=$(command -v chromium || true)
		fi
	fi
	if [ -z "$chromium" ] || [ ! -x "$chromium" ]; then
		if [ "${CI:-}" = true ]; then
			log "report in a browser: chromium is not installed (Debian package chromium); failed under CI"
			browser_failed=1
		else
			log "report in a browser: chromium is not installed (Debian package chromium); skipped"
		fi
		return 0
	fi

	log "report in a browser: headless $("$chromium" --version 2>/dev/null | head -1)"
	retention_create_database retention_report
	if ! psql -X -q -v ON_ERROR_STOP=1 -d retention_report >/dev/null <<-'SQL'; then
		SET timezone = 'UTC';
		SELECT setseed(0.42);
		-- 900 customers, first purchases over eight months of 2024, loyal
		-- ones coming back every three to six weeks
		CREATE TABLE report_events AS
		WITH u AS (
		    SELECT g AS user_id, timestamptz '2024-01-01' + random() * interval '240 days' AS first_ts,
		           random() AS loyalty
		      FROM generate_series(1, 900) AS g),
		e AS (
		    SELECT u.user_id, u.first_ts + k * (interval '18 days' + random() * interval '25 days') AS ts,
		           k, u.loyalty
		      FROM u, generate_series(0, 14) AS k)
		SELECT e.user_id, e.ts, 'purchase'::text AS event_type,
		       (1 + floor(power(random(), 2) * 60))::bigint AS item_id,
		       round((5 + random() * 60)::numeric, 2) AS amount
		  FROM e
		 WHERE e.ts < timestamptz '2024-10-01'
		   AND (e.k = 0 OR random() < 0.15 + 0.75 * e.loyalty * power(0.9, e.k));
		INSERT INTO retention.pipelines (name, events, churn_horizon) VALUES ('shop', 'report_events', '60 days');

		-- the item-kNN evaluation as evaluate_item_knn returns it, on a time split
		CREATE VIEW report_train AS SELECT * FROM report_events WHERE ts < timestamptz '2024-08-15';
		CREATE VIEW report_test AS SELECT * FROM report_events WHERE ts >= timestamptz '2024-08-15';
		INSERT INTO retention.models (name, version, kind, model, metrics)
		SELECT 'shop_item_knn', 1, 'item_knn', '{}'::jsonb,
		       jsonb_build_object('k', 10, 'evaluation', jsonb_agg(to_jsonb(e) ORDER BY e.recommender))
		  FROM retention.evaluate_item_knn('report_train', 'report_test', 20, 10) AS e;

		-- churn model versions; the holdout of version 2: outcomes drawn from
		-- a true probability, predictions that track it with noise
		INSERT INTO retention.models (name, version, kind, model, metrics)
		VALUES ('shop_churn', 1, 'logreg', '{}', '{}'), ('shop_churn', 2, 'logreg', '{}', '{}');
		INSERT INTO retention.churn_holdout (pipeline, model_version, churn_prob, churned)
		SELECT 'shop', 2, LEAST(0.99, GREATEST(0.01, p + (random() - 0.5) * 0.3)), random() < p
		  FROM (SELECT power(random(), 0.8) AS p FROM generate_series(1, 500)) AS t;
		INSERT INTO retention.churn_holdout (pipeline, model_version, churn_prob, churned)
		SELECT 'shop', 1, random(), random() < 0.5 FROM generate_series(1, 100);

		-- every customer scored, with three churn drivers each
		INSERT INTO retention.customer_scores (pipeline, user_id, churn_prob, p_alive, expected_purchases,
		                                       predicted_clv, value_at_risk, top_features, recommended_items,
		                                       churn_model_version, item_knn_version, bgnbd_version, scored_at)
		SELECT 'shop', u.user_id, u.p, 1 - u.p * 0.8, 2 * (1 - u.p), 120 * (1 - u.p), 120 * (1 - u.p) * u.p,
		       (SELECT jsonb_agg(jsonb_build_object('feature', f, 'contribution', round((random() * 1.5)::numeric, 3)))
		          FROM (SELECT f FROM unnest(ARRAY['days_since_last_purchase', 'purchases_90d', 'spend_90d',
		                                           'distinct_items', 'avg_days_between_purchases', 'refunds_90d'])
		                               WITH ORDINALITY AS x(f, i)
		                 ORDER BY random() * i + 0 * u.user_id LIMIT 3) AS fs),
		       ARRAY[1, 2, 3]::bigint[], 2, 1, 1, now()
		  FROM (SELECT d.user_id, power(random(), 1.3) AS p
		          FROM (SELECT DISTINCT user_id FROM report_events ORDER BY user_id) AS d) AS u;

		INSERT INTO retention.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, rows)
		VALUES (1, 'shop', 'features', 'ok', '2024-10-01 03:00:00+00', '2024-10-01 03:00:04+00', 900),
		       (1, 'shop', 'churn model', 'ok', '2024-10-01 03:00:04+00', '2024-10-01 03:00:09+00', 900),
		       (1, 'shop', 'scores', 'ok', '2024-10-01 03:00:09+00', '2024-10-01 03:00:12+00', 900);
		INSERT INTO retention.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, metrics)
		VALUES (1, 'shop', 'refresh', 'ok', '2024-10-01 03:00:00+00', '2024-10-01 03:00:12+00',
		        '{"backtest_cutoff": "2024-08-02", "min_backtest_auc": 0.6,
		          "backtest": {"churn_prob": {"auc": 0.74, "n": 180, "published": true},
		                       "p_alive": {"published": false, "reason": "bgnbd: not identified"}}}');
	SQL
		log "report in a browser: the fixtures failed to load"
		browser_failed=$((browser_failed + 1))
		return 0
	fi

	dir=$(mktemp -d /tmp/retention-report.XXXXXX)
	html="$dir/report.html"
	dom="$dir/dom.html"
	png="$dir/report.png"
	if ! report_query "SELECT retention.report_html('shop')" >"$html"; then
		browser_failed=$((browser_failed + 1))
		log "report in a browser: report_html failed"
		rm -rf "$dir"
		return 0
	fi

	flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--force-color-profile=srgb --hide-scrollbars "--window-size=1400,3000")
	timeout 120 "$chromium" "${flags[@]}" --user-data-dir="$dir/profile-dom" \
		--dump-dom "file://$html" >"$dom" 2>"$dir/chromium-dom.log" || true
	timeout 120 "$chromium" "${flags[@]}" --user-data-dir="$dir/profile-shot" \
		--screenshot="$png" "file://$html" >/dev/null 2>"$dir/chromium-shot.log" || true

	# the DOM Chromium built: every chart, with the marks the fixtures call for
	report_check "the browser built a DOM" yes "$([ -s "$dom" ] && grep -q '</html>' "$dom" && echo yes || echo no)"
	for id in cohort-heatmap retention-curves survival-curves roc-curve calibration risk-histogram churn-drivers; do
		report_check "DOM: svg#$id" 1 "$(report_count "$dom" "<svg class=\"chart\" id=\"$id\"")"
	done
	report_check "DOM: no \"no data yet\" note" 0 "$(report_count "$dom" 'class="no-data"')"
	expected=$(report_query "SELECT count(*) FROM retention.cohort_table('report_events', 'month', event_column => 'event_type',
	                  start_event => 'purchase', return_event => 'purchase')")
	report_check "DOM: one rect.cell per row of cohort_table" "$expected" "$(report_count "$dom" '<rect class="cell"')"
	report_check "DOM: one text.rate per row of cohort_table" "$expected" "$(report_count "$dom" '<text class="rate"')"
	expected=$(report_query "SELECT count(DISTINCT cohort_start) FROM retention.cohort_table('report_events', 'month',
	                  event_column => 'event_type', start_event => 'purchase', return_event => 'purchase')
	               WHERE period_number >= 1")
	report_check "DOM: one polyline.curve per cohort past period 0" "$expected" "$(report_count "$dom" '<polyline class="curve"')"
	report_survival_checks "$dom"
	report_incomplete_checks "$dom"
	report_check "DOM: one ROC polyline" 1 "$(report_count "$dom" '<polyline class="roc"')"
	expected=$(report_query "SELECT round(retention.roc_auc(churn_prob, churned)::numeric, 3) FROM retention.churn_holdout
	               WHERE pipeline = 'shop' AND model_version = 2")
	report_check "DOM: the AUC of version 2 in the ROC title" "$expected" \
		"$(grep -oE 'ROC curve \(AUC <span class="auc">[0-9.]+' "$dom" | sed -E 's/.*>//')"
	report_check "DOM: ten calibration points" 10 "$(report_count "$dom" '<circle class="point"')"
	report_check "DOM: 20 histogram bars" 20 "$(report_count "$dom" '<rect class="bar"')"
	expected=$(report_query "SELECT count(DISTINCT f->>'feature') FROM retention.customer_scores, jsonb_array_elements(top_features) f
	               WHERE pipeline = 'shop'")
	report_check "DOM: one bar per churn driver" "$expected" "$(report_count "$dom" '<rect class="driver"')"
	report_check "DOM: seven recommendation metrics" 7 "$(report_count "$dom" '<tr class="metric"')"
	report_check "DOM: no script" 0 "$(report_count "$dom" '<script')"

	# the screenshot: a 1400x3000 PNG with each chart's own colour in it
	report_check "screenshot written" yes "$([ -s "$png" ] && echo yes || echo no)"
	if [ -s "$png" ] && command -v python3 >/dev/null 2>&1; then
		# heatmap legend's darkest blue, first curve, ROC line, calibration,
		# first histogram bar, churn drivers, the Kaplan-Meier line
		colours=(08306b 4e79a7 1d4ed8 c2410c 33cc33 7c3aed be185d)
		read -r -a png_info <<<"$(report_png_colours "$png" "${colours[@]}")"
		report_check "screenshot: 1400x3000" 1400x3000 "${png_info[0]:-0}x${png_info[1]:-0}"
		report_check "screenshot: not blank (more than 100 colours)" yes \
			"$([ "${png_info[2]:-0}" -gt 100 ] && echo yes || echo "no (${png_info[2]:-0})")"
		for i in "${!colours[@]}"; do
			report_check "screenshot: pixels of #${colours[$i]}" yes "${png_info[$((i + 3))]:-no}"
		done
	elif [ -s "$png" ]; then
		log "report in a browser: no python3, so the screenshot is checked by size only"
		report_check "screenshot: not blank (over 50 kB)" yes \
			"$([ "$(wc -c <"$png")" -gt 50000 ] && echo yes || echo no)"
	fi

	if [ "$browser_failed" -gt 0 ]; then
		tail -n 20 "$dir/chromium-dom.log" "$dir/chromium-shot.log" >&2 || true
	fi
	if [ -n "${RETENTION_REPORT_DIR:-}" ]; then
		mkdir -p "$RETENTION_REPORT_DIR"
		cp "$html" "$dom" "$RETENTION_REPORT_DIR/" 2>/dev/null || true
		[ -s "$png" ] && cp "$png" "$RETENTION_REPORT_DIR/"
		log "report in a browser: files kept in $RETENTION_REPORT_DIR"
	fi
	rm -rf "$dir"
	psql -X -q -d postgres -c 'SET client_min_messages = warning' \
		-c 'DROP DATABASE IF EXISTS retention_report' >/dev/null 2>&1 || true
	log "report in a browser: $browser_passed passed, $browser_failed failed"
}
