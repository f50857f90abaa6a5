# shellcheck shell=bash
#
# test/loop/operations.sh: the nightly loop through the operations a shop
# puts it through, with committed data and several sessions.  Sourced by
# scripts/test once the cluster runs; counts its checks in
# operations_passed and operations_failed.
#
#   1. Online Retail replayed as of 2011-09-10 (and 2011-12-10): at least
#      95% of the customers seen by then get a churn probability; a
#      published P(alive) ranks the next 90 days' churners with AUC >= 0.6
#      (measured here on what really happened after as_of, by a rank-sum
#      written out in SQL), or it is withheld with the reason in the run and
#      in the report; purchases count invoices; duplicate features dropped;
#   2. isolated steps: each step made to fail in turn (the test-only switch
#      retention.test_fail_step): the others run, scores are written with
#      NULL where the failed step would have contributed;
#   3. cancel: statement_timeout at several points and pg_cancel_backend
#      during two steps, the session kept open: its search_path is as it
#      was, no step stays 'running', another session refreshes meanwhile;
#      a session terminated mid-run leaves steps the next run marks failed;
#      and statement_timeout swept over 40 points of a whole run: no lock
#      kept, every run records its end;
#   4. pg_dump -Fc / pg_restore into a new database: the refresh succeeds,
#      run ids continue, restored models score identically;
#   5. model ownership with two roles: the second cannot add, change or
#      delete a version of the first's model, cannot forge trained_by, and
#      readers skip versions not written by a member of the owner.

operations_passed=0
operations_failed=0

ops_check() { harness_check operations "$@"; }

ops_sql() { harness_sql "$@"; }

# ROC AUC of score against churned over query (score, churned), by the
# Mann-Whitney rank sum with average ranks for ties: written here in plain
# SQL, independently of retention.roc_auc.
ops_auc_sql() {
	cat <<-SQL
		WITH s AS ($1),
		     r AS (SELECT churned, rank() OVER (ORDER BY score)
		                           + (count(*) OVER (PARTITION BY score) - 1) / 2.0 AS rnk
		             FROM s WHERE score IS NOT NULL)
		SELECT round(((sum(rnk) FILTER (WHERE churned)
		               - count(*) FILTER (WHERE churned) * (count(*) FILTER (WHERE churned) + 1) / 2.0)
		              / (count(*) FILTER (WHERE churned) * count(*) FILTER (WHERE NOT churned)))::numeric, 4)
		  FROM r
	SQL
}

# waits (up to 30 s) until the latest run of db is in step
# ops_hold DB TABLE: a session that holds TABLE in ACCESS EXCLUSIVE mode until
# ops_release, so that a refresh waits inside the step that first reads it,
# however fast the machine: a cancel or a terminated session then lands in
# that step, not after the run.
ops_hold() {
	local db=$1 table=$2 i
	psql -X -q -d $db -c "SET application_name = 'retention_ops_holder'" -c "BEGIN" \
		-c "LOCK TABLE $table IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
	for i in $(seq 1 400); do
		[ "$(ops_sql $db -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		                      WHERE a.application_name = 'retention_ops_holder'
		                        AND l.relation = '$table'::regclass AND l.granted")" = 1 ] && return 0
		sleep 0.05
	done
}

ops_release() {
	ops_sql $1 -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	               WHERE application_name = 'retention_ops_holder'" >/dev/null
}

ops_wait_for_step() {
	local db=$1 step=$2 i
	for i in $(seq 1 600); do
		[ "$(ops_sql $db -c "SELECT count(*) FROM retention.refresh_runs WHERE step = '$step' AND status = 'running'")" = 1 ] && return 0
		sleep 0.05
	done
}

ops_online_retail() {
	local db=retention_ops_retail covered seen published auc bg_auc reason report run cutoff
	log "operations: Online Retail replayed as of 2011-09-10 and 2011-12-10"
	retention_create_database $db
	ops_sql $db -f data/online_retail/load.sql >/dev/null
	ops_sql $db >/dev/null <<-'SQL'
		CREATE TABLE retail_events AS
		SELECT r.customer_id AS user_id, i.item_id, r.invoice_date::timestamptz AS ts,
		       'purchase'::text AS event_type, (r.quantity * r.unit_price)::numeric(12,2) AS amount,
		       r.invoice_no
		  FROM online_retail r JOIN items i USING (stock_code)
		 WHERE r.customer_id IS NOT NULL AND r.invoice_no NOT LIKE 'C%' AND r.quantity > 0 AND r.unit_price > 0;
		ANALYZE retail_events;
		INSERT INTO retention.pipelines (name, events, as_of, churn_horizon, order_column)
		VALUES ('retail_0910', 'retail_events', '2011-09-10', '90 days', 'invoice_no'),
		       ('retail_1210', 'retail_events', '2011-12-10', '90 days', 'invoice_no');
	SQL
	ops_check "Online Retail 2011-09-10: the refresh succeeds" \
		"$(ops_sql $db -c "CALL retention.refresh('retail_0910')" 2>&1 | grep -c ERROR)" "0"
	seen=$(ops_sql $db -c "SELECT count(DISTINCT user_id) FROM retail_events WHERE ts <= '2011-09-10'")
	covered=$(ops_sql $db -c "SELECT count(*) FROM retention.customer_scores
	                           WHERE pipeline = 'retail_0910' AND churn_prob BETWEEN 0 AND 1")
	echo "# $covered of $seen customers seen by 2011-09-10 have a churn probability"
	ops_check "Online Retail 2011-09-10: at least 95% of the customers seen get a churn probability" \
		"$((covered * 100 >= seen * 95))" "1"

	# what really happened in the 90 days after as_of
	ops_sql $db >/dev/null <<-'SQL'
		CREATE TABLE churned_after AS
		SELECT user_id, NOT bool_or(ts > '2011-09-10' AND ts <= timestamptz '2011-09-10' + interval '90 days') AS churned
		  FROM retail_events WHERE ts <= timestamptz '2011-09-10' + interval '90 days'
		 GROUP BY user_id HAVING min(ts) <= '2011-09-10';
	SQL
	auc=$(ops_sql $db -c "$(ops_auc_sql "SELECT s.churn_prob AS score, c.churned FROM retention.customer_scores s
	                                      JOIN churned_after c USING (user_id) WHERE s.pipeline = 'retail_0910'")")
	echo "# churn_prob published at 2011-09-10 ranks the next 90 days' churners with AUC $auc"
	ops_check "Online Retail 2011-09-10: the published churn probability ranks the real churners (AUC >= 0.6)" \
		"$(ops_sql $db -c "SELECT $auc >= 0.6")" "t"
	published=$(ops_sql $db -c "SELECT count(p_alive) FROM retention.customer_scores WHERE pipeline = 'retail_0910'")
	run=$(ops_sql $db -c "SELECT max(run_id) FROM retention.refresh_runs WHERE pipeline = 'retail_0910'")
	if [ "$published" -gt 0 ]; then
		auc=$(ops_sql $db -c "$(ops_auc_sql "SELECT 1 - s.p_alive AS score, c.churned FROM retention.customer_scores s
		                                      JOIN churned_after c USING (user_id) WHERE s.pipeline = 'retail_0910'")")
		echo "# P(alive) is published; 1 - P(alive) ranks the next 90 days' churners with AUC $auc"
		ops_check "Online Retail 2011-09-10: a published P(alive) ranks the real churners with AUC >= 0.6" \
			"$(ops_sql $db -c "SELECT $auc >= 0.6")" "t"
	else
		reason=$(ops_sql $db -c "SELECT metrics -> 'backtest' -> 'p_alive' ->> 'reason' FROM retention.refresh_runs
		                          WHERE run_id = $run AND step = 'refresh'")
		echo "# P(alive) withheld: $reason"
		ops_check "Online Retail 2011-09-10: P(alive) withheld with the reason in the run" \
			"$([ -n "$reason" ] && echo yes)" "yes"
		report=$(ops_sql $db -c "SELECT retention.report_html('retail_0910')")
		ops_check "Online Retail 2011-09-10: the report shows P(alive) withheld, with the reason" \
			"$(sed 's|</tr>|\n|g' <<<"$report" | grep '<tr class="withheld"><th>p_alive</th>' | grep -c 'not identified')" "1"
		# withholding was right: BG/NBD's P(alive) at as_of (what 0.1.0
		# published) does not rank the real churners
		bg_auc=$(ops_sql $db -c "$(ops_auc_sql "WITH rfm AS (SELECT user_id, (retention.rfm_summary(ts, amount, '2011-09-10', 'week')).*
		                                                       FROM retail_events WHERE ts <= '2011-09-10' GROUP BY 1),
		                                          m AS (SELECT retention.bgnbd_fit(frequency, recency, t) AS bg FROM rfm)
		                                     SELECT 1 - retention.bgnbd_p_alive(m.bg, r.frequency, r.recency, r.t) AS score, c.churned
		                                       FROM rfm r JOIN churned_after c USING (user_id), m")" 2>/dev/null)
		echo "# BG/NBD's P(alive) at 2011-09-10 would have ranked the next 90 days' churners with AUC $bg_auc"
		ops_check "Online Retail 2011-09-10: the withheld BG/NBD P(alive) does not reach AUC 0.6 on what followed" \
			"$(ops_sql $db -c "SELECT $bg_auc < 0.6")" "t"
	fi
	ops_check "Online Retail 2011-09-10: value at risk is NULL when its backtest withholds it" \
		"$(ops_sql $db -c "SELECT CASE WHEN (metrics -> 'backtest' -> 'value_at_risk' ->> 'published')::boolean
		                              THEN true ELSE (SELECT count(value_at_risk) = 0 FROM retention.customer_scores
		                                               WHERE pipeline = 'retail_0910') END
		                     FROM retention.refresh_runs WHERE run_id = $run AND step = 'refresh'")" "t"
	ops_check "Online Retail: purchases count invoices (the orders of the customer summaries)" \
		"$(ops_sql $db -c "SELECT (metrics ->> 'orders')::bigint = (SELECT count(DISTINCT (customer_id, invoice_no))
		                                                              FROM online_retail r JOIN items i USING (stock_code)
		                                                             WHERE customer_id IS NOT NULL AND invoice_no NOT LIKE 'C%'
		                                                               AND quantity > 0 AND unit_price > 0
		                                                               AND invoice_date <= '2011-09-10')
		                     FROM retention.refresh_runs WHERE run_id = $run AND step = 'customer summaries'")" "t"
	ops_check "Online Retail: days since the last event, a duplicate of days since the last purchase, is dropped" \
		"$(ops_sql $db -c "SELECT string_agg(d ->> 'feature' || '~' || (d ->> 'correlated_with'), ',')
		                     FROM retention.refresh_runs, jsonb_array_elements(metrics -> 'collinear_features_dropped') d
		                    WHERE run_id = $run AND step = 'features'
		                      AND d ->> 'feature' = 'log_days_since_last_purchase'")" \
		"log_days_since_last_purchase~log_days_since_last_event"
	ops_check "Online Retail: every explanation says its direction in words" \
		"$(ops_sql $db -c "SELECT count(*) FROM retention.customer_scores s, jsonb_array_elements(s.top_features) e
		                    WHERE s.pipeline = 'retail_0910'
		                      AND e ->> 'reads' !~ '^[a-z ]+ is (higher|lower) than average, which raises the churn risk$'")" "0"

	ops_check "Online Retail 2011-12-10: the refresh succeeds" \
		"$(ops_sql $db -c "CALL retention.refresh('retail_1210')" 2>&1 | grep -c ERROR)" "0"
	ops_sql $db -c "SELECT '# backtest of ' || r.pipeline || ' (cutoff ' || (r.metrics ->> 'backtest_cutoff')::date || '): '
	                       || string_agg(b.key || ' AUC ' || COALESCE(b.value ->> 'auc', '-')
	                                     || CASE WHEN (b.value ->> 'published')::boolean THEN ' published'
	                                             ELSE ' withheld' END, '; ' ORDER BY b.key)
	                  FROM retention.refresh_runs r, jsonb_each(r.metrics -> 'backtest') b
	                 WHERE r.step = 'refresh' GROUP BY r.id, r.pipeline, r.metrics ORDER BY r.id"
	ops_check "Online Retail 2011-12-10: P(alive) published with backtest AUC >= 0.6, or withheld with a reason" \
		"$(ops_sql $db -c "SELECT CASE WHEN (b ->> 'published')::boolean THEN (b ->> 'auc')::float8 >= 0.6
		                              ELSE b ->> 'reason' <> '' END
		                     FROM (SELECT metrics -> 'backtest' -> 'p_alive' AS b FROM retention.refresh_runs
		                            WHERE pipeline = 'retail_1210' AND step = 'refresh') s")" "t"
}

ops_isolation() {
	local db=$1 step got want
	log "operations: every step made to fail in turn"
	ops_sql $db -c "CALL retention.refresh()" >/dev/null 2>&1
	local -A expect=(
		["customer summaries"]="customer summaries=failed,features=ok,churn model=ok,item-knn model=failed,customer-base models=failed,scores=ok,campaigns=ok|1500,1500,0"
		["features"]="customer summaries=ok,features=failed,churn model=failed,item-knn model=ok,customer-base models=ok,scores=ok,campaigns=ok|1500,0,1500"
		["churn model"]="customer summaries=ok,features=ok,churn model=failed,item-knn model=ok,customer-base models=ok,scores=ok,campaigns=ok|1500,0,1500"
		["item-knn model"]="customer summaries=ok,features=ok,churn model=ok,item-knn model=failed,customer-base models=ok,scores=ok,campaigns=ok|1500,1500,1500"
		["customer-base models"]="customer summaries=ok,features=ok,churn model=ok,item-knn model=ok,customer-base models=failed,scores=ok,campaigns=ok|1500,1500,0"
		# the scores of the run before (without P(alive)) stay
		["scores"]="customer summaries=ok,features=ok,churn model=ok,item-knn model=ok,customer-base models=ok,scores=failed,campaigns=failed|1500,1500,0"
		["campaigns"]="customer summaries=ok,features=ok,churn model=ok,item-knn model=ok,customer-base models=ok,scores=ok,campaigns=failed|1500,1500,1500"
	)
	for step in "customer summaries" "features" "churn model" "item-knn model" "customer-base models" "scores" "campaigns"; do
		psql -X -q -d $db -c "SET retention.test_fail_step = '$step'" -c "CALL retention.refresh()" >/dev/null 2>&1 || true
		got=$(ops_sql $db -c "SELECT string_agg(step || '=' || status, ',' ORDER BY id) FROM retention.refresh_runs
		                       WHERE run_id = (SELECT max(run_id) FROM retention.refresh_runs) AND step <> 'refresh'")
		got="$got|$(ops_sql $db -c "SELECT count(*) || ',' || count(churn_prob) || ',' || count(p_alive)
		                               FROM retention.customer_scores WHERE pipeline = 'default'")"
		ops_check "isolation: '$step' fails, the other steps run and scores carry NULL for it" "$got" "${expect[$step]}"
		ops_check "isolation: the failed step says why" \
			"$(ops_sql $db -c "SELECT message FROM retention.refresh_runs WHERE step = '$step'
			                    ORDER BY id DESC LIMIT 1")" \
			"XX000: step \"$step\" failed on purpose (retention.test_fail_step)"
	done
	ops_check "isolation: the next refresh without the switch is whole again" \
		"$(ops_sql $db -c "CALL retention.refresh()" 2>&1 | grep -c ERROR)" "0"
	# a customer-base model that cannot score everyone (here: more lifetime-
	# value periods than customer_base_clv takes, 22023) withholds its scores
	# with the error; the scores step and the other scores still land
	ops_sql $db -c "UPDATE retention.pipelines SET clv_months = 100001 WHERE name = 'default'" >/dev/null
	ops_sql $db -c "CALL retention.refresh()" >/dev/null 2>&1 || true
	ops_check "isolation: a customer-base model that cannot score someone withholds P(alive), the rest lands" \
		"$(ops_sql $db -c "SELECT string_agg(step || '=' || status, ',' ORDER BY id) FROM retention.refresh_runs
		                    WHERE run_id = (SELECT max(run_id) FROM retention.refresh_runs)")|$(ops_sql $db -c "
		                   SELECT count(*) || ',' || count(churn_prob) || ',' || count(p_alive) || ',' || count(predicted_clv)
		                     FROM retention.customer_scores WHERE pipeline = 'default'")" \
		"customer summaries=ok,features=ok,churn model=ok,item-knn model=ok,customer-base models=ok,scores=ok,campaigns=ok,refresh=ok|1500,1500,0,0"
	ops_check "isolation: the withheld P(alive) gives the model's error as the reason" \
		"$(ops_sql $db -c "SELECT metrics #>> '{withheld,p_alive}' FROM retention.refresh_runs
		                    WHERE step = 'scores' ORDER BY id DESC LIMIT 1" | sed 's/ cannot score every customer: .*/ cannot score every customer/')" \
		"$(ops_sql $db -c "SELECT metrics ->> 'model' FROM retention.refresh_runs
		                    WHERE step = 'customer-base models' ORDER BY id DESC LIMIT 1") cannot score every customer"
	ops_sql $db -c "UPDATE retention.pipelines SET clv_months = 12 WHERE name = 'default'" >/dev/null
}

ops_cancel() {
	local db=$1 timeout out step i pid running other
	log "operations: statement_timeout and pg_cancel_backend during refresh"
	# statement_timeout at several points of a run: before it starts, and
	# inside the steps that first read the events, the models and the
	# scores, held there by a lock so that the timeout lands in them however
	# fast the machine is
	local spec table
	for spec in "20ms|" "400ms|public.events" "400ms|retention.models" "400ms|retention.customer_scores"; do
		timeout=${spec%%|*}
		table=${spec#*|}
		[ -z "$table" ] || ops_hold $db "$table"
		out=$(psql -X -q -A -t -d $db 2>&1 <<-SQL
			SET search_path = public, retention;
			SET statement_timeout = '$timeout';
			CALL retention.refresh();
			RESET statement_timeout;
			\! psql -X -q -A -t -d $db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'retention_ops_holder'" >/dev/null
			SELECT 'path=' || current_setting('search_path');
			SELECT 'locks=' || count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
			\! psql -X -q -A -t -d $db -c "CALL retention.refresh()" 2>&1 | grep -c ERROR | sed 's/^/other=/'
			SELECT 'running=' || count(*) FROM retention.refresh_runs WHERE status = 'running';
			SELECT 'unfinished=' || count(DISTINCT r.run_id) FROM retention.refresh_runs r
			 WHERE NOT EXISTS (SELECT 1 FROM retention.refresh_runs x WHERE x.run_id = r.run_id AND x.step = 'refresh');
		SQL
		)
		timeout="$timeout${table:+ in the step reading $table}"
		ops_check "statement_timeout $timeout: the refresh is cancelled" \
			"$(grep -c '^ERROR:  canceling statement due to' <<<"$out")" "1"
		ops_check "statement_timeout $timeout: the session's search_path is as it was" \
			"$(grep '^path=' <<<"$out")" "path=public, retention"
		ops_check "statement_timeout $timeout: the session holds no lock" "$(grep '^locks=' <<<"$out")" "locks=0"
		ops_check "statement_timeout $timeout: another session refreshes while it stays open" \
			"$(grep '^other=' <<<"$out")" "other=0"
		# a cancel before the run had started leaves no run; one after marks it
		ops_check "statement_timeout $timeout: no step stays running, every run recorded its end" \
			"$(grep -E '^(running|unfinished)=' <<<"$out" | tr '\n' ' ')" "running=0 unfinished=0 "
	done

	local pair
	for pair in "customer summaries|public.events" "scores|retention.customer_scores"; do
		step=${pair%%|*}
		table=${pair#*|}
		out=$(mktemp)
		ops_hold $db "$table"
		psql -X -q -A -t -d $db >"$out" 2>&1 <<-'SQL' &
			SET application_name = 'retention_ops_cancel';
			SET search_path = public, retention;
			CALL retention.refresh();
			SELECT 'path=' || current_setting('search_path');
			SELECT pg_sleep(30);
		SQL
		local session=$!
		ops_wait_for_step $db "$step"
		ops_sql $db -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'retention_ops_cancel'" >/dev/null
		ops_release $db
		for i in $(seq 1 200); do
			grep -q '^path=' "$out" && break
			sleep 0.05
		done
		other=$(ops_sql $db -c "CALL retention.refresh()" 2>&1 | grep -c ERROR || true)
		running=$(ops_sql $db -c "SELECT count(*) FROM retention.refresh_runs WHERE status = 'running'")
		ops_sql $db -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'retention_ops_cancel'" >/dev/null
		wait $session || true
		# the cancel lands in the step running by then: '$step' or, on a slow
		# machine, a later one
		ops_check "pg_cancel_backend during '$step': the refresh is cancelled, its run and step marked so" \
			"$(grep -c 'canceling statement due to user request' "$out")|$(ops_sql $db -c "
			    SELECT count(*) FILTER (WHERE step = 'refresh' AND status = 'cancelled') || ','
			           || count(*) FILTER (WHERE step <> 'refresh' AND status = 'cancelled')
			      FROM retention.refresh_runs WHERE run_id = (SELECT max(run_id) - 1 FROM retention.refresh_runs)")" \
			"2|1,1"
		ops_check "pg_cancel_backend during '$step': the session's search_path is as it was" \
			"$(grep '^path=' "$out")" "path=public, retention"
		ops_check "pg_cancel_backend during '$step': another session refreshes while it stays open" "$other" "0"
		ops_check "pg_cancel_backend during '$step': no step stays running" "$running" "0"
		rm -f "$out"
	done

	# a session that ends mid-run (crash, lost connection) cannot mark its
	# run: the next run does
	ops_hold $db retention.models
	psql -X -q -d $db -c "SET application_name = 'retention_ops_killed'" -c "CALL retention.refresh()" >/dev/null 2>&1 &
	local killed=$!
	ops_wait_for_step $db "churn model"
	ops_sql $db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'retention_ops_killed'" >/dev/null
	ops_release $db
	wait $killed || true
	ops_check "statement_timeout: runs that had started are marked cancelled" \
		"$(ops_sql $db -c "SELECT count(*) > 0 AND bool_and(message LIKE 'cancelled: canceling statement due to %')
		                     FROM retention.refresh_runs WHERE step = 'refresh' AND status = 'cancelled'")" "t"
	ops_check "terminated session: its step is still 'running' until the next run" \
		"$(ops_sql $db -c "SELECT count(*) FROM retention.refresh_runs WHERE status = 'running'")" "1"
	ops_check "terminated session: the next run succeeds" "$(ops_sql $db -c "CALL retention.refresh()" 2>&1 | grep -c ERROR)" "0"
	ops_check "terminated session: the next run marked its step failed, saying why" \
		"$(ops_sql $db -c "SELECT string_agg(DISTINCT status || ': ' || left(message, 30), ',') FROM retention.refresh_runs
		                    WHERE run_id = (SELECT max(run_id) - 1 FROM retention.refresh_runs) AND status <> 'ok'")" \
		"failed: interrupted before it finished"
}

# statement_timeout at 40 points spread evenly over a whole run: wherever a
# cancel lands (in a step, in a COMMIT between two steps, while the run
# records its end), the session keeps no lock and every run records its end
ops_cancel_sweep() {
	local db=$1 start ms i t out leaks=0 cancelled=0
	log "operations: statement_timeout swept over a whole run"
	# the faster of two runs, and timeouts up to 90% of it: runs vary with
	# the machine's load, and a timeout past the end of a run cancels nothing
	ms=
	for i in 1 2; do
		start=$(date +%s%N)
		ops_sql $db -c "CALL retention.refresh()" >/dev/null
		t=$(( ($(date +%s%N) - start) / 1000000 ))
		[ -z "$ms" ] || [ "$t" -lt "$ms" ] && ms=$t
	done
	for i in $(seq 1 40); do
		t=$(( ms * 9 * i / 400 + 1 ))
		out=$(psql -X -q -A -t -d $db 2>&1 <<-SQL
			SET statement_timeout = '${t}ms';
			CALL retention.refresh();
			RESET statement_timeout;
			SELECT 'locks=' || count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
		SQL
		) || true
		grep -q '^locks=0$' <<<"$out" || leaks=$((leaks + 1))
		cancelled=$((cancelled + $(grep -c '^ERROR:  canceling statement due to statement timeout' <<<"$out" || true)))
	done
	ops_check "sweep: at least 20 of 40 refreshes were cancelled (the faster run took ${ms} ms)" \
		"$([ "$cancelled" -ge 20 ] && echo yes || echo "$cancelled")" "yes"
	ops_check "sweep: no session kept the lock" "$leaks" "0"
	ops_check "sweep: no step stays running, every run recorded its end" \
		"$(ops_sql $db -c "SELECT 'running=' || count(*) FILTER (WHERE status = 'running') || ' unfinished='
		                          || (SELECT count(*) FROM (SELECT run_id FROM retention.refresh_runs GROUP BY run_id
		                                                    HAVING NOT bool_or(step = 'refresh')) u)
		                     FROM retention.refresh_runs")" "running=0 unfinished=0"
	ops_check "sweep: the next refresh runs whole" "$(ops_sql $db -c "CALL retention.refresh()" 2>&1 | grep -c ERROR || true)" "0"
}

ops_dump_restore() {
	local db=$1 restored=retention_ops_restored dump before score_a score_b
	log "operations: pg_dump -Fc, pg_restore into a new database, refresh"
	dump=$(mktemp /tmp/retention-ops.XXXXXX.dump)
	before=$(ops_sql $db -c "SELECT max(run_id) || ',' || max(id) FROM retention.refresh_runs")
	pg_dump -Fc -d $db -f "$dump"
	psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $restored" \
		-c "CREATE DATABASE $restored" >/dev/null
	RETENTION_DATABASES+=("$restored")
	ops_check "dump/restore: pg_restore succeeds without errors" \
		"$(pg_restore -d $restored "$dump" 2>&1 | grep -c -i error)" "0"
	ops_check "dump/restore: runs, models, owners and scores came back" \
		"$(ops_sql $restored -c "SELECT (SELECT count(*) FROM retention.refresh_runs) > 0, (SELECT count(*) FROM retention.models) > 0,
		                                (SELECT count(*) FROM retention.model_owners) > 0, (SELECT count(*) FROM retention.customer_scores) > 0")" \
		"t|t|t|t"
	# the latest churn and customer-base models, scored on fixed inputs in both databases
	local probe="SELECT retention.churn_prob(retention.churn_model('default_churn'),
	                      array_fill(0.5::float8, ARRAY[cardinality((SELECT feature_names FROM retention.churn_models_latest
	                                                                 WHERE name = 'default_churn'))]))::text
	                    || ' ' || retention.customer_base_p_alive((SELECT model FROM retention.models
	                                                               WHERE name LIKE 'default\_%' AND kind IN ('bgnbd', 'pareto_nbd')
	                                                               ORDER BY trained_at DESC LIMIT 1), 3, 20, 30)::text
	                    || ' ' || array_to_string(ARRAY(SELECT item_id FROM retention.recommend(
	                                  retention.item_knn_load('default_item_knn'), '{1,2,3}', 5)), ',')"
	score_a=$(ops_sql $db -c "$probe")
	score_b=$(ops_sql $restored -c "$probe")
	echo "# probe in the original: $score_a"
	ops_check "dump/restore: restored models score identically" "$score_b" "$score_a"
	ops_check "dump/restore: the next refresh succeeds" \
		"$(ops_sql $restored -c "CALL retention.refresh()" 2>&1 | grep -c ERROR)" "0"
	ops_check "dump/restore: run ids and step ids continue" \
		"$(ops_sql $restored -c "SELECT count(*) > 0 AND min(run_id) > ${before%,*} AND min(id) > ${before#*,}
		                           FROM retention.refresh_runs WHERE started_at > (SELECT max(started_at) FROM retention.refresh_runs
		                                                                          WHERE run_id <= ${before%,*})")" "t"
	rm -f "$dump"
}

ops_ownership() {
	local db=$1 alice=retention_ops_alice bob=retention_ops_bob carol=retention_ops_carol
	log "operations: model ownership with two roles"
	psql -X -q -d $db -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<-SQL
		DO \$\$
		DECLARE r text;
		BEGIN
		    FOREACH r IN ARRAY ARRAY['$alice', '$bob', '$carol'] LOOP
		        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
		            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		        END IF;
		        EXECUTE format('GRANT USAGE ON SCHEMA retention TO %I', r);
		        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON retention.models, retention.model_owners TO %I', r);
		        EXECUTE format('GRANT SELECT ON retention.churn_models_latest TO %I', r);
		    END LOOP;
		END
		\$\$;
		GRANT $alice TO $carol;
		DROP TABLE IF EXISTS ops_features;
		CREATE TABLE ops_features AS
		SELECT id, (id % 3 = 0)::int AS y, sin(id) + 0.05 * id AS f1 FROM generate_series(1, 60) AS id;
		GRANT SELECT ON ops_features TO $alice, $bob, $carol;
	SQL
	local model="(SELECT model FROM retention.models WHERE name = 'ops_shared' ORDER BY version LIMIT 1)"
	local train="CALL retention.train_churn_model('ops_shared', 'ops_features', 'y', '{f1}', holdout_fraction => 0)"
	ops_check "ownership: the first role to save a name owns it, trained_by is current_user" \
		"$(ops_sql $db -c "SET ROLE $alice" -c "$train" \
		                  -c "SELECT owner || ' ' || (SELECT trained_by FROM retention.models WHERE name = 'ops_shared')
		                        FROM retention.model_owners WHERE name = 'ops_shared'")" \
		"1
$alice $alice"
	ops_check "ownership: a second role cannot add a version with save_model (42501)" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "SELECT retention.save_model('ops_shared', 'logreg', $model)" 2>&1 |
			grep -o 'permission denied to add a version to model "ops_shared"')" \
		'permission denied to add a version to model "ops_shared"'
	ops_check "ownership: nor with train_churn_model" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "$train" 2>&1 |
			grep -c 'permission denied to add a version')" "1"
	ops_check "ownership: nor by INSERT into retention.models, even forging trained_by" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "INSERT INTO retention.models (name, version, kind, model) VALUES ('ops_shared', 100, 'logreg', $model)" 2>&1 | grep -c 'row-level security')|$(ops_sql $db -c "SET ROLE $bob" -c "INSERT INTO retention.models (name, version, kind, model, trained_by) VALUES ('ops_shared', 101, 'logreg', $model, '$alice')" 2>&1 | grep -c 'row-level security')" \
		"1|1"
	ops_check "ownership: nor change, delete or take over the name" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "UPDATE retention.models SET metrics = '{}' WHERE name = 'ops_shared'" \
		                  -c "DELETE FROM retention.models WHERE name = 'ops_shared'" \
		                  -c "UPDATE retention.model_owners SET owner = '$bob' WHERE name = 'ops_shared'" \
		                  -c "RESET ROLE" -c "SELECT count(*) || ' ' || (max(metrics::text) <> '{}') FROM retention.models WHERE name = 'ops_shared'" \
		                  -c "SELECT owner FROM retention.model_owners WHERE name = 'ops_shared'")" \
		"1 true
$alice"
	ops_check "ownership: a member of the owner adds a version" \
		"$(ops_sql $db -c "SET ROLE $carol" -c "$train")" "2"
	# a version written by a non-member (here by a superuser, who bypasses
	# row-level security) is not used by the readers
	ops_sql $db -c "INSERT INTO retention.models (name, version, kind, model, feature_names, trained_by)
	                SELECT 'ops_shared', 100, 'logreg', jsonb_set(model, '{intercept}', '9'), '{f1}', '$bob'
	                  FROM retention.models WHERE name = 'ops_shared' AND version = 2" >/dev/null
	echo "# the untrusted version: $(ops_sql $db -c "SELECT model::text FROM retention.models WHERE name = 'ops_shared' AND version = 100" | cut -c1-160)"
	ops_check "ownership: churn_model, churn_models_latest and churn_scores skip the untrusted version" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "SELECT (SELECT version FROM retention.churn_models_latest WHERE name = 'ops_shared')
		                                            || ' ' || (retention.churn_model('ops_shared')::text = (SELECT model::text::retention.logreg_model::text FROM retention.models WHERE name = 'ops_shared' AND version = 2))
		                                            || ' ' || (SELECT count(*) FROM retention.churn_scores('ops_shared', 'ops_features', 'id') s
		                                                        WHERE s.churn_prob = retention.churn_prob((SELECT model::text::retention.logreg_model FROM retention.models WHERE name = 'ops_shared' AND version = 2), ARRAY[(SELECT f1 FROM ops_features o WHERE o.id::text = s.id)]))")" \
		"2 true 60"
	ops_ownership_other_kinds $db $alice $bob
}

# train_churn_gbdt and item_knn_save store through save_model too: a first
# version claims the name, others get 42501, concurrent saves of one name get
# consecutive versions, and churn_gbdt_model reads trusted versions only
ops_ownership_other_kinds() {
	local db=$1 alice=$2 bob=$3
	local gbdt="CALL retention.train_churn_gbdt('ops_gbdt', 'ops_features', 'y', '{f1}', '{\"max_iter\": 3, \"min_samples_leaf\": 5}', holdout_fraction => 0)"
	ops_check "ownership: a role (not a superuser) stores the first gbdt version and owns the name" \
		"$(ops_sql $db -c "SET ROLE $alice" -c "$gbdt" \
		                  -c "SELECT owner FROM retention.model_owners WHERE name = 'ops_gbdt'")" \
		"1
$alice"
	ops_check "ownership: a second role cannot add a gbdt version (42501)" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "$gbdt" 2>&1 | grep -c 'permission denied to add a version')" "1"
	ops_sql $db -c "INSERT INTO retention.models (name, version, kind, model, trained_by)
	                SELECT 'ops_gbdt', 100, 'gbdt', model, '$bob' FROM retention.models WHERE name = 'ops_gbdt'" >/dev/null
	ops_check "ownership: churn_gbdt_model skips a version written by a non-member" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "SELECT retention.churn_gbdt_model('ops_gbdt')::text = retention.churn_gbdt_model('ops_gbdt', 1)::text,
		                                            retention.churn_gbdt_model('ops_gbdt', 100) IS NULL")" "t|t"

	# two sessions save a new version of one item-kNN name at once: the second
	# waits for the first, then takes the next version
	local knn="SELECT retention.item_knn_save('ops_knn', (SELECT retention.item_knn(u, i, 1.0, 5) FROM (VALUES (1, 10), (1, 11), (2, 10), (2, 11)) AS t(u, i)))"
	ops_sql $db -c "SET ROLE $alice" -c "$knn" >/dev/null || true
	ops_sql $db -c "SET ROLE $alice" -c "BEGIN" -c "$knn" -c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
	local first=$!
	sleep 0.3
	local second
	second=$(ops_sql $db -c "SET ROLE $alice" -c "$knn" 2>&1) || true
	wait $first || true
	ops_check "ownership: two concurrent item_knn_save of one name get versions 2 and 3" \
		"$second|$(ops_sql $db -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM retention.models WHERE name = 'ops_knn'")" \
		"3|1,2,3"

	# the recommendation loaders skip a version written by a non-member (a
	# superuser bypasses row-level security to write it)
	local als="SELECT retention.als_save('ops_als', (SELECT retention.als_train(u, i, 1.0, '{\"factors\": 2, \"iterations\": 2}')
	                                                  FROM (VALUES (1, 10), (1, 11), (2, 10), (2, 11), (3, 11)) AS t(u, i)))"
	ops_sql $db -c "SET ROLE $alice" -c "$als" >/dev/null
	ops_sql $db -c "INSERT INTO retention.models (name, version, kind, model, trained_by)
	                SELECT name, 100, kind, model, '$bob' FROM retention.models WHERE name IN ('ops_knn', 'ops_als') AND version = 1" >/dev/null
	ops_check "ownership: item_knn_load and als_load skip a version written by a non-member" \
		"$(ops_sql $db -c "SET ROLE $bob" -c "SELECT retention.item_knn_load('ops_knn')::text = retention.item_knn_load('ops_knn', 3)::text,
		                                            retention.als_load('ops_als')::text = retention.als_load('ops_als', 1)::text")
$(ops_sql $db -c "SET ROLE $bob" -c "SELECT retention.item_knn_load('ops_knn', 100)" 2>&1 | grep -o 'model "ops_knn" version 100 does not exist')
$(ops_sql $db -c "SET ROLE $bob" -c "SELECT retention.als_load('ops_als', 100)" 2>&1 | grep -o 'model "ops_als" version 100 does not exist')" \
		't|t
model "ops_knn" version 100 does not exist
model "ops_als" version 100 does not exist'
}

retention_operations() {
	local db=retention_ops
	retention_create_database $db
	ops_sql $db -f test/loop/fixtures/synthetic_events.sql >/dev/null
	ops_isolation $db
	ops_cancel $db
	ops_cancel_sweep $db
	ops_dump_restore $db
	ops_ownership $db
	ops_online_retail
}
