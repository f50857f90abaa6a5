# shellcheck shell=bash
#
# test/loop/nightly.sh: the nightly loop end to end, with committed data and
# several sessions, which a pgTAP file (one transaction, rolled back) cannot
# do.  Sourced by scripts/test once the cluster runs; counts its checks in
# nightly_passed and nightly_failed.
#
#   1. retention.refresh() on synthetic events: every step ok, scores for
#      every user, models in the registry holding no user identifier;
#   2. readers during refreshes see whole results only (old or new scores,
#      never a mix), and a second refresh of the pipeline is refused;
#   3. a real pg_cron job runs CALL retention.refresh() and succeeds.

nightly_passed=0
nightly_failed=0

nightly_check() { harness_check nightly "$@"; }

nightly_sql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d retention_nightly "$@"
}

retention_nightly() {
	local users runs readers_bad reads refused job_status new_runs i

	log "nightly loop: refresh, concurrent readers, pg_cron"
	retention_create_database retention_nightly
	nightly_sql -f test/loop/fixtures/synthetic_events.sql >/dev/null

	# 1. one refresh, with a campaign the loop assigns by itself
	nightly_sql -c "INSERT INTO retention.campaigns (name, control_fraction, threshold, auto_assign)
	                VALUES ('winback', 0.2, 0.5, true)" >/dev/null
	nightly_sql -c 'CALL retention.refresh()' >/dev/null 2>&1 || true
	nightly_check "refresh: every step ok" \
		"$(nightly_sql -c "SELECT string_agg(step || '=' || status, ',' ORDER BY id) FROM retention.refresh_runs")" \
		"customer summaries=ok,features=ok,churn model=ok,item-knn model=ok,customer-base models=ok,scores=ok,campaigns=ok,refresh=ok"
	users=$(nightly_sql -c "SELECT count(DISTINCT user_id) FROM events WHERE ts <= '2024-10-27'")
	nightly_check "refresh: one score row per user" \
		"$(nightly_sql -c "SELECT count(*) FROM retention.customer_scores WHERE pipeline = 'default'")" "$users"
	nightly_check "refresh: every probability in [0, 1], three items for every user" \
		"$(nightly_sql -c "SELECT count(*) FROM retention.customer_scores
		                    WHERE NOT (churn_prob BETWEEN 0 AND 1 AND p_alive BETWEEN 0 AND 1)
		                       OR cardinality(recommended_items) <> 3")" "0"
	# on these data (made the BG/NBD way) both dropout models are identified
	# and beat the backtest; Pareto/NBD ranks the churners a little better
	nightly_check "refresh: churn, item-kNN, customer-base and spend models in the registry" \
		"$(nightly_sql -c "SELECT string_agg(DISTINCT kind, ',') FROM retention.models")" \
		"gamma_gamma,item_knn,logreg,pareto_nbd"
	nightly_check "churn model: the three candidates trained and scored on the same holdout users" \
		"$(nightly_sql -c "SELECT string_agg(e ->> 'candidate' || '=' || (e #>> '{holdout,n_rows}'), ',' ORDER BY e ->> 'candidate')
		                    FROM retention.refresh_runs r, jsonb_array_elements(r.metrics -> 'candidates') e
		                   WHERE r.step = 'churn model'")" \
		"$(nightly_sql -c "SELECT 'elastic_net=' || n || ',gbdt=' || n || ',logreg=' || n
		                    FROM (SELECT rows AS n FROM retention.refresh_runs WHERE step = 'churn model') s")"
	nightly_check "churn model: the version in use is the candidate with the best holdout AUC" \
		"$(nightly_sql -c "SELECT (SELECT e ->> 'candidate' FROM retention.refresh_runs r, jsonb_array_elements(r.metrics -> 'candidates') e
		                            WHERE r.step = 'churn model' ORDER BY (e #>> '{holdout,roc_auc}')::float8 DESC LIMIT 1)
		                          || ' ' || (SELECT metrics ->> 'candidate' FROM retention.models
		                                      WHERE name = 'default_churn' ORDER BY version DESC LIMIT 1)")" \
		"$(nightly_sql -c "SELECT (metrics ->> 'candidate') || ' ' || (metrics ->> 'candidate') FROM retention.refresh_runs WHERE step = 'churn model'")"
	nightly_check "churn_scores: a NOTICE names the model version it scored with" \
		"$(nightly_sql -c "SELECT count(*) FROM retention.churn_scores('default_churn',
		                      (SELECT format('SELECT 1 AS id, %s', string_agg(format('0.5::float8 AS %I', f), ', '))
		                         FROM unnest((SELECT feature_names FROM retention.models WHERE name = 'default_churn'
		                                       ORDER BY version DESC LIMIT 1)) AS f), 'id')" 2>&1 | tr '\n' ' ')" \
		"NOTICE:  churn_scores: churn model 'default_churn' version 1 ($(nightly_sql -c "SELECT kind FROM retention.models WHERE name = 'default_churn'")) 1 "
	nightly_check "campaigns: refresh put every at-risk customer in an arm of the auto-assigned campaign" \
		"$(nightly_sql -c "SELECT (SELECT count(*) FROM retention.interventions WHERE campaign = 'winback')
		                        = (SELECT count(*) FROM retention.customer_scores
		                            WHERE pipeline = 'default' AND churn_prob >= 0.5)
		                      AND (SELECT count(*) FROM retention.interventions
		                            WHERE campaign = 'winback' AND arm = 'control') > 0")" "t"
	nightly_check "campaigns: the report has the campaigns section" \
		"$(nightly_sql -c "SELECT retention.report_html() LIKE '%<section id=\"campaigns\">%'")" "t"
	nightly_check "privacy: no stored model holds a user identifier" \
		"$(nightly_sql -c "SELECT count(*) FROM retention.models m,
		                          jsonb_path_query(m.model, 'strict \$.**') v
		                    WHERE jsonb_typeof(v) = 'number'
		                      AND (v #>> '{}')::numeric IN (SELECT DISTINCT user_id FROM events)")" "0"
	nightly_check "at_risk_customers: ordered by value at risk" \
		"$(nightly_sql -c "SELECT bool_and(ok) FROM (SELECT value_at_risk <= lag(value_at_risk) OVER () OR
		                                                   lag(value_at_risk) OVER () IS NULL AS ok
		                                              FROM retention.at_risk_customers) s")" "t"

	# 2. readers during three refreshes in one background session; once it
	# holds the pipeline, another refresh must be refused
	nightly_sql -c 'CALL retention.refresh()' -c 'CALL retention.refresh()' \
		-c 'CALL retention.refresh()' >/dev/null 2>&1 &
	local writer=$!
	for i in $(seq 1 200); do
		[ "$(nightly_sql -c "SELECT count(*) FROM retention.refresh_runs WHERE status = 'running'")" != 0 ] && break
		sleep 0.05
	done
	refused=$(nightly_sql -c 'CALL retention.refresh()' 2>&1 | grep -c 'is already running' || true)
	# one reader session polling with a fresh snapshot per statement
	# (READ COMMITTED) for as long as the writer runs
	read -r reads readers_bad < <(nightly_sql -F ' ' <<-SQL
		CREATE FUNCTION pg_temp.watch(OUT reads integer, OUT bad integer) LANGUAGE plpgsql AS \$\$
		DECLARE
		    whole boolean;
		BEGIN
		    reads := 0;
		    bad := 0;
		    -- until the three runs have finished (one run before them)
		    WHILE reads < 20000 AND (SELECT count(*) FROM retention.refresh_runs
		                              WHERE step = 'refresh' AND status <> 'running') < 4 LOOP
		        SELECT count(*) = $users AND count(DISTINCT scored_at) = 1
		               AND count(DISTINCT churn_model_version) = 1 INTO whole
		          FROM retention.customer_scores WHERE pipeline = 'default';
		        PERFORM retention.churn_prob(retention.churn_model('default_churn'),
		                                     array_fill(1.0::float8, ARRAY[cardinality(feature_names)]))
		           FROM retention.models WHERE name = 'default_churn' ORDER BY version DESC LIMIT 1;
		        reads := reads + 1;
		        IF NOT whole THEN bad := bad + 1; END IF;
		        PERFORM pg_sleep(0.002);
		    END LOOP;
		END
		\$\$;
		SELECT * FROM pg_temp.watch();
	SQL
	)
	wait "$writer" || true
	nightly_check "concurrency: readers never saw a half-written scoring or model ($reads reads)" "$readers_bad" "0"
	nightly_check "concurrency: the readers ran while the refreshes did" "$((reads >= 20))" "1"
	nightly_check "concurrency: a second refresh of a running pipeline is refused" "$refused" "1"
	runs=$(nightly_sql -c "SELECT count(*) FROM retention.refresh_runs WHERE step = 'refresh' AND status = 'ok'")
	nightly_check "concurrency: the three background refreshes succeeded" "$runs" "4"

	# 3. pg_cron, if the cluster preloads it: schedule every minute, wait for one run
	if [ "$(psql -X -A -t -d postgres -c "SHOW shared_preload_libraries")" != pg_cron ]; then
		log "pg_cron is not preloaded in this cluster; pg_cron check skipped"
		[ "${CI:-}" = true ] && nightly_failed=$((nightly_failed + 1))
		return 0
	fi
	psql -X -q -d postgres -v ON_ERROR_STOP=1 >/dev/null <<-'SQL'
		CREATE EXTENSION IF NOT EXISTS pg_cron;
		SELECT cron.schedule_in_database('retention-nightly-test', '* * * * *',
		                                 'CALL retention.refresh()', 'retention_nightly');
	SQL
	job_status=""
	for i in $(seq 1 75); do
		job_status=$(psql -X -A -t -d postgres -c "
			SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
			 WHERE j.jobname = 'retention-nightly-test' AND d.status IN ('succeeded', 'failed')
			 ORDER BY d.runid LIMIT 1")
		[ -n "$job_status" ] && break
		sleep 2
	done
	psql -X -q -d postgres -c "SELECT cron.unschedule('retention-nightly-test')" >/dev/null
	nightly_check "pg_cron: the scheduled CALL retention.refresh() succeeded" "$job_status" "succeeded"
	new_runs=$(nightly_sql -c "SELECT count(*) FROM retention.refresh_runs WHERE step = 'refresh' AND status = 'ok'")
	nightly_check "pg_cron: its run is in the run history" "$((new_runs > runs))" "1"
}
