# shellcheck shell=bash
#
# test/analytics/plans.sh: the wrappers plan what they read.
# Sourced by scripts/test once the cluster runs; counts its checks in
# plans_passed and plans_failed.
#
# Each wrapper builds and runs a query of its own: the analytics wrappers,
# cohort_rows and logreg_cv's path.  Called on a table of 5,000 events,
# none of those queries may be estimated to cost as much as
# jit_above_cost (100000, PostgreSQL's default): a wrapper whose estimate is
# off by orders of magnitude (two series taken for a thousand rows each,
# multiplied) made PostgreSQL compile every small query with LLVM, 0.4 s of
# JIT for a table read in a few milliseconds.  The plans are read from
# auto_explain, sent to the client as notices; the report's sections set
# client_min_messages, so its plans are read from the server's log, where
# this harness runs the cluster and keeps it.

plans_passed=0
plans_failed=0

plans_check() {
	local what=$1 cost=$2
	if [ -n "$cost" ] && awk -v c="$cost" 'BEGIN { exit !(c < 100000) }'; then
		plans_passed=$((plans_passed + 1))
		echo "ok - $what (largest estimate $cost)"
	else
		plans_failed=$((plans_failed + 1))
		echo "not ok - $what: a nested query is estimated at ${cost:-nothing}, jit_above_cost is 100000"
	fi
}

# the largest "Total Cost" among the plans of the statements the call runs
plans_largest_cost() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d retention_plans \
		-c "LOAD 'auto_explain'" \
		-c "SET auto_explain.log_min_duration = 0" \
		-c "SET auto_explain.log_nested_statements = on" \
		-c "SET auto_explain.log_format = json" \
		-c "SET auto_explain.log_level = notice" \
		-c "SET client_min_messages = notice" \
		-c "SELECT count(*) FROM ($1) AS q" 2>&1 >/dev/null |
		sed -nE 's/.*"Total Cost": ([0-9.]+).*/\1/p' | sort -g | tail -1
}

retention_plans() {
	log "analytics wrappers' plans on a small table"
	retention_create_database retention_plans
	psql -X -q -v ON_ERROR_STOP=1 -d retention_plans <<-'SQL' >/dev/null
		SELECT pg_catalog.setseed(0.42);
		CREATE TABLE public.events AS
		SELECT u AS user_id,
		       timestamptz '2024-01-01 00:00+00' + (u % 60) * interval '1 day'
		         + floor(pg_catalog.random() * 90) * interval '1 day'
		         + pg_catalog.random() * interval '1 day' AS ts,
		       (ARRAY['view', 'view', 'click', 'cart', 'purchase'])[1 + (pg_catalog.random() * 4.999)::int] AS event_type,
		       (pg_catalog.random() * 200)::int AS item_id,
		       round((pg_catalog.random() * 80)::numeric, 2) AS amount
		  FROM (SELECT (pg_catalog.random() * 999)::bigint + 1 AS u FROM generate_series(1, 5000)) s;
		ANALYZE public.events;
	SQL
	local call
	while IFS= read -r call; do
		plans_check "$call" "$(plans_largest_cost "$call")"
	done <<-'CALLS'
		SELECT * FROM retention.cohort_table('events', 'week')
		SELECT * FROM retention.cohort_table('events', 'month', breakdown_by => 'event_type')
		SELECT * FROM retention.rolling_retention('events', 7, '1 day')
		SELECT * FROM retention.lifecycle('events', 'week')
		SELECT * FROM retention.stickiness('events', 'week')
		SELECT * FROM retention.stickiness('events', 'month', breakdown_by => 'event_type')
		SELECT * FROM retention.sessions('events', '30 minutes')
		SELECT * FROM retention.session_summary('events', '30 minutes')
		SELECT * FROM retention.user_features('events', '2024-03-01')
		SELECT * FROM retention.rfm('events', '2024-04-01')
		SELECT * FROM retention.funnel('events', '{view,cart,purchase}', '1 day')
		SELECT * FROM retention.funnel_dropoffs('events', '{view,cart,purchase}', '1 day', 2)
		SELECT * FROM retention.paths('events', 'view')
		SELECT * FROM retention.cohort_rows((SELECT retention.cohort_matrix(user_id, ts, 'week', 'classic', true, true) FROM events))
		SELECT * FROM retention.logreg_cv('SELECT user_id, event_type = ''purchase'' AS y, amount::float8 AS a, item_id::float8 AS b FROM events', 'y', '{a,b}', 'user_id', '{"folds": 2, "n_lambda": 2}')
	CALLS
	plans_report
}

# the report of a refreshed pipeline, its plans from the server's log
plans_report() {
	local server_log=${RETENTION_TMP:+$RETENTION_TMP/server.log} before
	if [ -z "$server_log" ] || [ ! -r "$server_log" ]; then
		log "the server's log is not this harness's: report_html's plans not checked"
		[ "${CI:-}" = true ] && plans_failed=$((plans_failed + 1))
		return 0
	fi
	psql -X -q -v ON_ERROR_STOP=1 -d retention_plans \
		-c "INSERT INTO retention.pipelines (name, events, churn_candidates, as_of)
		    VALUES ('default', 'public.events', '{logreg}', '2024-05-01')" \
		-c "CALL retention.refresh()" >/dev/null 2>&1
	before=$(wc -c <"$server_log")
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d retention_plans \
		-c "LOAD 'auto_explain'" \
		-c "SET auto_explain.log_min_duration = 0" \
		-c "SET auto_explain.log_nested_statements = on" \
		-c "SET auto_explain.log_format = json" \
		-c "SET auto_explain.log_level = log" \
		-c "SELECT length(retention.report_html())" >/dev/null
	sleep 0.2
	plans_check "SELECT retention.report_html() after a refresh" \
		"$(tail -c +"$((before + 1))" "$server_log" | sed -nE 's/.*"Total Cost": ([0-9.]+).*/\1/p' | sort -g | tail -1)"
}
