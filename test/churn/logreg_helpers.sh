# shellcheck shell=bash
#
# test/churn/logreg_helpers.sh: logreg_train's helper processes, the
# parallel workers its final function starts to share the Newton passes
# (src/churn/logreg_passes.c).  Sourced by scripts/test once the cluster
# runs; counts its checks in helpers_passed and helpers_failed.
#   1. the helpers start when the session allows parallel workers and the
#      rows fit in maintenance_work_mem, and not otherwise;
#   2. the model is the same bits with them as without, alone (with and
#      without class weights and an elastic-net penalty) and per group under
#      a parallel plan, and it solves the score equations, checked in SQL;
#   3. statement_timeout stops the fit and its helpers;
#   4. a helper terminated mid-fit fails the statement, not the server, and
#      no helper is left behind;
#   5. with little shared memory, as in a container (a second server whose
#      /dev/shm holds 64 MB, then whose mmap segments have 40 MB), a fit
#      whose rows do not fit runs without helpers instead of failing, and
#      one whose rows fit has them; a /dev/shm without a size limit has
#      room, and sysv's refusal of a segment over kernel.shmmax is caught.
#      This needs root, for mount and IPC namespaces.
# A shell harness, not pgTAP: it reads the DEBUG1 line that says how many
# helpers a fit had, and it acts on the helpers from another session.

helpers_passed=0
helpers_failed=0

helpers_check() { harness_check helpers "$@"; }

helpers_sql() { harness_sql "$@"; }

# the helpers each fit had, from the DEBUG1 lines of psql's output
helpers_counts() {
	sed -nE 's/.*DEBUG:  logreg_train: [0-9]+ chunks, ([0-9]+) of [0-9]+ helpers.*/\1/p' | tr '\n' ' '
}

helpers_live() {
	helpers_sql $1 -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
}

# waits (up to 10 s) until no parallel worker is left
helpers_wait_gone() {
	local db=$1 i
	for i in $(seq 1 200); do
		[ "$(helpers_live $db)" = 0 ] && return 0
		sleep 0.05
	done
}

retention_helpers() {
	local db=retention_helpers out serial with_helpers i seen
	log "logreg_train helpers"
	retention_create_database $db
	# 60,000 rows of 100 features (13 chunks a group, 38 in all), and 20,000
	# of 400
	helpers_sql $db >/dev/null <<-'SQL'
		SELECT setseed(0.3);
		CREATE TABLE fit AS
		SELECT i % 3 AS g, random() < 0.4 AS y,
		       ARRAY(SELECT random() * 2 - 1 + i * 0 FROM generate_series(1, 100)) AS x
		  FROM generate_series(1, 60000) i;
		CREATE TABLE wide_fit AS
		SELECT random() < 0.5 AS y, ARRAY(SELECT random() + i * 0 FROM generate_series(1, 400)) AS x
		  FROM generate_series(1, 20000) i;
		ANALYZE fit, wide_fit;
	SQL
	local whole="SELECT md5(retention.logreg_train(y, x)::text) FROM fit"
	local weighted="SELECT md5(retention.logreg_train(y, x, '{\"class_weight\": \"balanced\", \"lambda\": 0.5, \"l1_ratio\": 0.5}')::text) FROM fit"
	local grouped="SELECT string_agg(m, ',' ORDER BY g) FROM (SELECT g, md5(retention.logreg_train(y, x)::text) AS m FROM fit GROUP BY g) s"
	local debug="SET client_min_messages = debug1"

	serial=$(helpers_sql $db -c "SET max_parallel_workers_per_gather = 0" -c "$debug" -c "$whole" -c "$weighted" -c "$grouped" 2>&1)
	helpers_check "no helper when the session allows no parallel workers" "$(helpers_counts <<<"$serial")" "0 0 0 0 0 "
	out=$(helpers_sql $db -c "SET max_parallel_workers_per_gather = 2" -c "SET maintenance_work_mem = '16MB'" \
		-c "$debug" -c "$whole" 2>&1)
	helpers_check "no helper when the rows do not fit in maintenance_work_mem" "$(helpers_counts <<<"$out")" "0 "

	# the grouped fit under a parallel plan: the scan's workers, then each
	# group's helpers
	local parallel="SET max_parallel_workers_per_gather = 2; SET maintenance_work_mem = '512MB'; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0"
	helpers_check "the grouped fit runs under a parallel plan" \
		"$(helpers_sql $db -c "$parallel" -c "EXPLAIN (COSTS OFF) $grouped" | grep -c 'Gather')" "1"
	with_helpers=$(helpers_sql $db -c "$parallel" -c "$debug" -c "$whole" -c "$weighted" -c "$grouped" 2>&1)
	helpers_check "each of the five fits had helpers" \
		"$(helpers_counts <<<"$with_helpers" | tr ' ' '\n' | grep -c '^[1-9]')" "5"
	helpers_check "the fits without helpers gave five models" \
		"$(grep -v DEBUG <<<"$serial" | tr ',' '\n' | grep -cE '^[0-9a-f]{32}$')" "5"
	helpers_check "the models are the same bits with helpers as without" \
		"$(grep -v DEBUG <<<"$with_helpers")" "$(grep -v DEBUG <<<"$serial")"
	# independently of the code under test: the fit with helpers solves the
	# likelihood's score equations, sum (p_i - y_i) x_ij = 0 for the intercept
	# and each feature, computed here in plain SQL (features in [-1, 1], so a
	# lost or doubled chunk would leave sums of order 1 to 100)
	out=$(helpers_sql $db -c "$parallel" -c "$debug" 2>&1 <<-'SQL' -f -
		CREATE TEMP TABLE model AS SELECT retention.logreg_train(y, x)::jsonb AS j FROM fit;
		WITH c AS (SELECT (j->>'intercept')::float8 AS b0,
		                  ARRAY(SELECT jsonb_array_elements_text(j->'coef')::float8) AS b FROM model),
		     r AS (SELECT f.y, f.x,
		                  1 / (1 + exp(-(c.b0 + (SELECT sum(v * c.b[k]) FROM unnest(f.x) WITH ORDINALITY u(v, k))))) AS p
		             FROM fit f, c),
		     score AS (SELECT sum(p - y::int) AS g FROM r
		               UNION ALL
		               SELECT sum((r.p - r.y::int) * u.v) FROM r, unnest(r.x) WITH ORDINALITY u(v, k) GROUP BY k)
		SELECT 'equations=' || count(*) || ' largest_below_1e-6=' || (max(abs(g)) < 1e-6) FROM score;
	SQL
	)
	helpers_check "with helpers, the fit solves the score equations (checked in plain SQL)" \
		"$(helpers_counts <<<"$out" | tr ' ' '\n' | grep -c '^[1-9]')|$(grep '^equations=' <<<"$out")" \
		"1|equations=101 largest_below_1e-6=true"
	# under a serial plan the rows are sorted straight into the helpers' copy;
	# under a parallel one the workers' sorted shares are merged into it
	with_helpers=$(helpers_sql $db -c "$parallel" -c "SET parallel_setup_cost = 1e10" -c "$debug" \
		-c "EXPLAIN (COSTS OFF) $whole" -c "$whole" -c "$weighted" 2>&1)
	helpers_check "under a serial plan too: helpers, and the same bits" \
		"$(grep -c Gather <<<"$with_helpers")|$(helpers_counts <<<"$with_helpers" | tr ' ' '\n' | grep -c '^[1-9]')|$(grep -E '^[0-9a-f]{32}$' <<<"$with_helpers" | tr '\n' ' ')" \
		"0|2|$(grep -v DEBUG <<<"$serial" | head -2 | tr '\n' ' ')"

	# an error while the helpers run (a duplicated feature: singular
	# Hessian), caught in a subtransaction: the session leaves parallel mode
	# and can write again, in the block and after a savepoint
	out=$(psql -X -q -A -t -d $db -c "$parallel" -c "$debug" -f - 2>&1 <<-'SQL'
		CREATE TABLE fit_collinear AS SELECT y, x[1:1] || x AS x FROM fit;
		CREATE TABLE written (i integer);
		DO $$
		BEGIN
		    PERFORM retention.logreg_train(y, x) FROM fit_collinear;
		EXCEPTION WHEN OTHERS THEN
		    INSERT INTO written VALUES (1);
		END
		$$;
		BEGIN;
		SAVEPOINT s;
		SELECT retention.logreg_train(y, x) FROM fit_collinear;
		ROLLBACK TO s;
		INSERT INTO written VALUES (2);
		COMMIT;
		SELECT 'written=' || string_agg(i::text, ',' ORDER BY i) FROM written;
	SQL
	)
	helpers_check "an error during a fit with helpers, caught: the session writes again" \
		"$(helpers_counts <<<"$out" | tr ' ' '\n' | grep -c '^[1-9]')|$(grep -c 'ERROR:  feature 2 is constant' <<<"$out")|$(grep '^written=' <<<"$out")" \
		"2|1|written=1,2"

	# statement_timeout lands in a pass; a serial plan, so that every
	# parallel worker is a helper
	local wide="SET maintenance_work_mem = '512MB'; SET parallel_setup_cost = 1e10; SET max_parallel_workers_per_gather = 2"
	# a tolerance no step can meet: every iteration halves its step 50 times,
	# so the fit lasts seconds on any machine
	local long_fit="SELECT retention.logreg_train(y, x, '{\"tol\": 1e-300, \"max_iter\": 200}') IS NULL FROM wide_fit"
	out=$(helpers_sql $db -c "$wide" -c "SET statement_timeout = '700ms'" \
		-c "$long_fit" 2>&1 || true)
	helpers_check "statement_timeout stops a fit with helpers" "$out" "ERROR:  canceling statement due to statement timeout"
	helpers_wait_gone $db
	helpers_check "statement_timeout: no helper is left" "$(helpers_live $db)" "0"

	out=$(mktemp)
	psql -X -q -A -t -d $db -c "SET application_name = 'retention_helpers_fit'" -c "$wide" \
		-c "$long_fit" >"$out" 2>&1 &
	local session=$!
	seen=0
	for i in $(seq 1 400); do
		seen=$(helpers_sql $db -c "SELECT count(*) FROM pg_stat_activity w JOIN pg_stat_activity l ON l.pid = w.leader_pid
		                            WHERE w.backend_type = 'parallel worker' AND l.application_name = 'retention_helpers_fit'
		                              AND w.query LIKE '%logreg_train%'")
		[ "$seen" -ge 1 ] && break
		sleep 0.05
	done
	helpers_check "the helpers show the fit's query in pg_stat_activity" "$([ "$seen" -ge 1 ] && echo yes)" "yes"
	helpers_sql $db -c "SELECT pg_terminate_backend(w.pid) FROM pg_stat_activity w JOIN pg_stat_activity l ON l.pid = w.leader_pid
	                     WHERE w.backend_type = 'parallel worker' AND l.application_name = 'retention_helpers_fit' LIMIT 1" >/dev/null
	wait $session || true
	helpers_check "a terminated helper fails the statement" \
		"$(grep -c 'ERROR:  terminating background worker "parallel worker" due to administrator command' "$out")" "1"
	helpers_wait_gone $db
	helpers_check "a terminated helper: the server answers and no helper is left" \
		"$(helpers_sql $db -c "SELECT 'up'")|$(helpers_live $db)" "up|0"
	rm -f "$out"
	helpers_little_shared_memory
}

# helpers_fits PSQL-ARGS...: the helpers and the model's md5 of a small and a
# large fit, on one line
helpers_fits() {
	local out
	out=$(psql -X -q -A -t "$@" -c "SET client_min_messages = debug1" -c "SET max_parallel_workers_per_gather = 2" \
		-c "SET maintenance_work_mem = '1GB'" -c "SET parallel_setup_cost = 1e10" \
		-c "SELECT md5(retention.logreg_train(y, x)::text) FROM small_fit" \
		-c "SELECT md5(retention.logreg_train(y, x)::text) FROM large_fit" 2>&1)
	echo "$(helpers_counts <<<"$out")$(grep -vE 'DEBUG|WARNING' <<<"$out" | tr '\n' ' ')$(grep -c WARNING <<<"$out") warnings"
}

helpers_little_shared_memory() {
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		echo "# skipped: a server with little shared memory needs root, for a mount namespace"
		return 0
	fi
	local bindir dir port serial got
	bindir=$("$PG_CONFIG" --bindir)
	dir=$(mktemp -d /tmp/retention-shm.XXXXXX)
	chown postgres: "$dir"
	for port in $(shuf -i 20000-60000 -n 100); do
		port_is_free "$port" && break
	done
	run_as_server_user "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null 2>&1
	cat >>"$dir/data/postgresql.conf" <<-CONF
		port = $port
		listen_addresses = ''
		unix_socket_directories = '$dir'
		fsync = off
	CONF
	# $1: the kind of dynamic shared memory; the server and its children see
	# their own small /dev/shm (of $2, 64m by default; 0 is no limit) and
	# pg_dynshmem, and with $3 their own kernel.shmmax
	helpers_shm_server() {
		local ipc='' shmmax=''
		sed -i '/^dynamic_shared_memory_type/d' "$dir/data/postgresql.conf"
		echo "dynamic_shared_memory_type = $1" >>"$dir/data/postgresql.conf"
		[ -n "${3:-}" ] && ipc=-i shmmax="echo $3 >/proc/sys/kernel/shmmax &&"
		unshare -m $ipc --propagation private sh -c "$shmmax
			mount -t tmpfs -o size=${2:-64m} tmpfs /dev/shm &&
			mount -t tmpfs -o size=40m,uid=postgres,mode=0700 tmpfs '$dir/data/pg_dynshmem' &&
			cd / && runuser -u postgres -- '$bindir/pg_ctl' -D '$dir/data' -l '$dir/log' -w start" >/dev/null
	}
	helpers_shm_server posix
	psql -X -q -h "$dir" -p "$port" -d postgres -v ON_ERROR_STOP=1 >/dev/null <<-'SQL'
		CREATE EXTENSION retention;
		SELECT setseed(0.7);
		-- 17 MB of rows and sums, and 50 MB
		CREATE TABLE small_fit AS
		SELECT random() < 0.4 AS y, ARRAY(SELECT random() * 2 - 1 + i * 0 FROM generate_series(1, 100)) AS x
		  FROM generate_series(1, 20000) i;
		CREATE TABLE large_fit AS
		SELECT random() < 0.4 AS y, ARRAY(SELECT random() * 2 - 1 + i * 0 FROM generate_series(1, 30)) AS x
		  FROM generate_series(1, 200000) i;
	SQL
	serial=$(psql -X -q -A -t -h "$dir" -p "$port" -d postgres -c "SET max_parallel_workers_per_gather = 0" \
		-c "SELECT md5(retention.logreg_train(y, x)::text) FROM small_fit" \
		-c "SELECT md5(retention.logreg_train(y, x)::text) FROM large_fit" | tr '\n' ' ')
	got=$(helpers_fits -h "$dir" -p "$port" -d postgres)
	helpers_check "/dev/shm of 64 MB: helpers for 17 MB of rows, none for 50 MB, no error, the same models" \
		"$got" "2 0 ${serial}0 warnings"

	run_as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	helpers_shm_server mmap
	got=$(helpers_fits -h "$dir" -p "$port" -d postgres)
	helpers_check "mmap segments in 40 MB: the failed allocation caught, no helpers for 50 MB, no error, the same models" \
		"$got" "2 0 ${serial}0 warnings"
	got=$(psql -X -q -A -t -h "$dir" -p "$port" -d postgres -c "SET client_min_messages = debug1" \
		-c "SET max_parallel_workers_per_gather = 2" -c "SET maintenance_work_mem = '1GB'" \
		-c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" -c "SET min_parallel_table_scan_size = 0" \
		-c "SELECT md5(retention.logreg_train(y, x)::text) FROM small_fit" 2>&1)
	helpers_check "mmap segments under a parallel plan: no free space to measure, so no helpers" \
		"$(helpers_counts <<<"$got")$(grep -v DEBUG <<<"$got")" "0 $(cut -d' ' -f1 <<<"$serial")"
	run_as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	# a tmpfs mounted with size=0 has no limit, and statvfs reports no blocks
	helpers_shm_server posix 0
	got=$(helpers_fits -h "$dir" -p "$port" -d postgres)
	helpers_check "/dev/shm without a size limit: helpers for both fits, the same models" \
		"$got" "2 2 ${serial}0 warnings"
	run_as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	# shmget refuses a segment over kernel.shmmax with EINVAL, an XX000 error
	helpers_shm_server sysv 64m 33554432
	got=$(helpers_fits -h "$dir" -p "$port" -d postgres)
	helpers_check "sysv segments over kernel.shmmax (32 MB): the refusal caught, no helpers for 50 MB, no error, the same models" \
		"$got" "2 0 ${serial}0 warnings"
	run_as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	rm -rf "$dir"
}
