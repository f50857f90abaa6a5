#!/usr/bin/env bash
#
# test/reliability/fuzz_states.sh: the structure-aware fuzzer (issue 11).
#
# Real aggregate states and binary values, mutated field by field, fed to
# every function of the extension that takes them (read from the catalogue)
# and, for binary values, to the types' receive functions through COPY
# (FORMAT binary), and mutants of real models' JSON text through their
# types' input, all as a role holding only USAGE on schema retention and
# EXECUTE on its functions.  Passes when the server never restarts (every
# call returns or raises an error), recv gives the verdict in gives on the
# same value, what recv accepted round-trips through text and no call raises
# an internal error (XX000, an elog reached from SQL: a bug), each printed
# with its call.  Prints the calls made, the functions covered and the errors
# by SQLSTATE.
#
# Sourced by scripts/test (function retention_fuzz, stage "fuzz") and by
# scripts/valgrind; run directly, it uses the server of PGHOST/PGPORT:
#   PGHOST=... PGPORT=... test/reliability/fuzz_states.sh
# Environment: RETENTION_FUZZ_SECONDS (time for the calls, default 60),
# RETENTION_FUZZ_CALLS (calls generated, default 30000),
# RETENTION_FUZZ_BINARY (mutated binary values sent through COPY, default
# 1500), RETENTION_FUZZ_SEED (default 0.4242).  For a longer run, e.g.
#   RETENTION_FUZZ_SECONDS=1800 RETENTION_FUZZ_CALLS=600000 RETENTION_FUZZ_BINARY=20000

retention_fuzz() {
	fuzz_passed=0
	fuzz_failed=0
	local root db role dir seconds calls seed binary start_time sentinel made covered roundtrip
	local crashed=0 internal mismatches errexit=0
	# the calls are expected to fail: errors are counted, not fatal
	[[ $- == *e* ]] && errexit=1
	set +e
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	db=retention_fuzz
	role=retention_fuzzer
	seconds=${RETENTION_FUZZ_SECONDS:-60}
	calls=${RETENTION_FUZZ_CALLS:-30000}
	seed=${RETENTION_FUZZ_SEED:-0.4242}
	binary=${RETENTION_FUZZ_BINARY:-1500}
	dir=$(mktemp -d /tmp/retention-fuzz.XXXXXX)
	chmod 755 "$dir"
	echo "== structure-aware fuzzer (${seconds}s, seed $seed)"

	psql -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
		-c "DROP ROLE IF EXISTS $role" -c "CREATE ROLE $role LOGIN" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d $db <<-SQL >/dev/null
		CREATE EXTENSION retention CASCADE;
		GRANT USAGE ON SCHEMA retention TO $role;
		-- explicit, so that a revoke from PUBLIC never hides code from the fuzzer
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA retention TO $role;
		CREATE SCHEMA fuzz AUTHORIZATION $role;
	SQL
	start_time=$(psql -X -At -d $db -c "SELECT pg_postmaster_start_time()")
	# a crash restarts every backend: a sentinel session that must outlive the run
	PGAPPNAME=retention_fuzz_sentinel psql -X -q -d postgres -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 &
	sentinel=$!

	if ! psql -X -q -U $role -d $db -v fuzz_seed="$seed" -v fuzz_calls="$calls" -v fuzz_binary="$binary" \
		-f "$root/test/reliability/fixtures/fuzz_states.sql" >"$dir/corpus.log" 2>&1; then
		cat "$dir/corpus.log"
		echo "fuzz: building the corpus failed"
		fuzz_failed=1
	else
		# stage 1: the calls, one statement each, with a progress mark every 100
		{
			echo '\set VERBOSITY sqlstate'
			echo '\o /dev/null'
			echo "SET statement_timeout = '1s';"
			psql -X -At -U $role -d $db -c \
				"SELECT CASE WHEN ord % 100 = 0 THEN sql || E'\n\\\\echo @@ ' || ord ELSE sql END
				   FROM fuzz.calls ORDER BY ord"
		} >"$dir/calls.sql"
		timeout "$seconds" psql -X -q -U $role -d $db -f "$dir/calls.sql" \
			>"$dir/calls.out" 2>"$dir/calls.err"
		[ $? = 2 ] && crashed=1
		made=$(grep -E '^@@ ' "$dir/calls.out" | tail -1 | cut -c4-)
		made=${made:-0}

		# stage 2: binary values through COPY (FORMAT binary), one file each
		psql -X -At -U $role -d $db -c \
			"SELECT format(E'\\\\copy (SELECT id, payload FROM fuzz.bin WHERE id = %s) TO %L WITH (FORMAT binary)\\n'
			              || E'\\\\copy fuzz.%I (id, v) FROM %L WITH (FORMAT binary)',
			              id, '$dir/' || id || '.bin',
			              'recv_' || replace(typ::text, 'retention.', ''), '$dir/' || id || '.bin')
			   FROM fuzz.bin ORDER BY id" >"$dir/copy.sql"
		psql -X -q -U $role -d $db -v VERBOSITY=sqlstate -f "$dir/copy.sql" \
			>"$dir/copy.out" 2>"$dir/copy.err"
		[ $? = 2 ] && crashed=1

		grep -qE 'server closed the connection|connection to server was lost|terminating connection because of crash' \
			"$dir/calls.err" "$dir/copy.err" && crashed=1
		kill -0 "$sentinel" 2>/dev/null || crashed=1
		[ "$(psql -X -At -d $db -c "SELECT pg_postmaster_start_time()")" = "$start_time" ] || crashed=1

		covered=$(psql -X -At -d $db -c "SELECT count(DISTINCT fn) FROM fuzz.calls WHERE ord <= $made")
		echo "fuzz: $made calls made, $covered of $(psql -X -At -d $db -c "SELECT count(*) FROM fuzz.targets") functions covered" \
			"($(psql -X -At -d $db -c "SELECT count(*) FROM fuzz.pool WHERE mutant") mutated values;" \
			"not reachable from SQL: $(psql -X -At -d $db -c "SELECT count(*) FROM fuzz.ext_functions WHERE 'internal'::regtype = ANY (argtypes)") functions with internal arguments)"
		echo "fuzz: errors by SQLSTATE:" \
			$(sed -nE 's/.*ERROR:  ([0-9A-Z]{5})$/\1/p' "$dir/calls.err" | sort | uniq -c | sort -rn |
				awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//')
		echo "fuzz: binary values through COPY: $(psql -X -At -d $db -c "SELECT count(*) || ' (' || count(*) FILTER (WHERE mutant) || ' mutated) of ' || count(DISTINCT typ) || ' types' FROM fuzz.bin");" \
			"errors by SQLSTATE:" \
			$(sed -nE 's/.*ERROR:  ([0-9A-Z]{5})$/\1/p' "$dir/copy.err" | sort | uniq -c | sort -rn |
				awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//')

		# internal errors are findings: elog() reached from SQL
		internal=$(grep -cE 'ERROR:  XX000' "$dir/calls.err" "$dir/copy.err" | awk -F: '{ s += $2 } END { print s + 0 }')
		# recv and in must agree wherever the fuzzer could write the text form
		mismatches=$(psql -X -At -d $db -c "
			SELECT count(*) FROM fuzz.bin b JOIN fuzz.in_verdict i USING (id)
			 WHERE (i.sqlstate IS NULL) <> EXISTS (
			         SELECT 1 FROM fuzz.recv_activity r WHERE r.id = b.id
			          UNION ALL SELECT 1 FROM fuzz.recv_logreg_model r WHERE r.id = b.id)")
		psql -X -At -d $db -c "
			SELECT 'fuzz: recv and in disagree on ' || b.typ || ' ' || b.text_form || ' (in: ' || coalesce(i.sqlstate, 'accepted') || ')'
			  FROM fuzz.bin b JOIN fuzz.in_verdict i USING (id)
			 WHERE (i.sqlstate IS NULL) <> EXISTS (
			         SELECT 1 FROM fuzz.recv_activity r WHERE r.id = b.id
			          UNION ALL SELECT 1 FROM fuzz.recv_logreg_model r WHERE r.id = b.id)
			 LIMIT 5"
		# what recv accepted must print, read back and send the same bytes
		roundtrip=$(psql -X -At -d $db -c "
			SELECT count(*) FROM fuzz.recv_activity r
			 WHERE retention.activity_send(r.v::text::retention.activity) <> retention.activity_send(r.v)")
		echo "fuzz: recv vs in on $(psql -X -At -d $db -c "SELECT count(*) FROM fuzz.in_verdict") values: $mismatches disagree;" \
			"values received that do not round-trip through text: $roundtrip; internal errors: $internal"

		if [ "$crashed" = 1 ]; then
			echo "fuzz: THE SERVER CRASHED"
			tail -n 20 "$dir/calls.err" "$dir/copy.err" 2>/dev/null
			fuzz_failed=$((fuzz_failed + 1))
		else
			fuzz_passed=$((fuzz_passed + 1))
		fi
		# internal errors (an elog reached from SQL) are bugs, printed with
		# their calls (one per function); the stage fails on them, on crashes
		# and on recv/in disagreement
		sed -nE 's/^psql:[^:]*calls.sql:([0-9]+): ERROR:  XX000$/\1/p' "$dir/calls.err" |
			while read -r n; do sed -n "${n}p" "$dir/calls.sql"; done |
			awk '{ f = $0; sub(/\(.*/, "", f); if (!(f in seen)) { seen[f] = 1; print "fuzz: internal error from: " substr($0, 1, 300) } }'
		grep -B1 -E 'ERROR:  XX000' "$dir/copy.err" | head -10 | sed 's/^/fuzz: internal error in COPY: /'
		for n in "$mismatches" "$roundtrip" "$internal"; do
			if [ "$n" = 0 ]; then
				fuzz_passed=$((fuzz_passed + 1))
			else
				fuzz_failed=$((fuzz_failed + 1))
			fi
		done
	fi

	# end the sentinel's backend (by its pid), then its psql
	psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'retention_fuzz_sentinel'" >/dev/null 2>&1
	kill "$sentinel" 2>/dev/null
	wait "$sentinel" 2>/dev/null
	if [ "${RETENTION_KEEP:-0}" = 1 ]; then
		echo "fuzz: files kept in $dir"
	else
		rm -rf "$dir"
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	fi
	[ "$errexit" = 1 ] && set -e
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	retention_fuzz
	echo "fuzz: $fuzz_passed passed, $fuzz_failed failed"
	[ "$fuzz_failed" = 0 ]
fi
