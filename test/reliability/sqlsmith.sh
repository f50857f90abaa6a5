# shellcheck shell=bash
#
# test/reliability/sqlsmith.sh: random SQL from sqlsmith against a database with the
# extension and some events in it, for a bounded time, as a role without
# superuser rights (so that it cannot stop backends or write files).  The
# check is that the server never crashes: no backend terminated by a signal,
# and the server still answers afterwards.  Sourced by scripts/test, which
# has started the cluster; prints "sqlsmith: N passed, N failed" style counts
# through the variables smith_passed and smith_failed.
#
# RETENTION_SQLSMITH_SECONDS: how long to run (default 300 under CI, else 60;
# 0 skips the stage).

smith_passed=0
smith_failed=0

retention_sqlsmith() {
	local seconds=${RETENTION_SQLSMITH_SECONDS:-}
	local log_before=0 crashes out

	if [ -z "$seconds" ]; then
		if [ "${CI:-}" = true ]; then seconds=300; else seconds=60; fi
	fi
	[ "$seconds" -gt 0 ] || return 0
	command -v sqlsmith >/dev/null 2>&1 || { log "sqlsmith is not installed; skipped"; return 0; }

	log "sqlsmith for $seconds seconds"
	retention_create_database retention_smith
	psql -X -q -v ON_ERROR_STOP=1 -d retention_smith <<-'SQL'
		DO $$ BEGIN
		    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'retention_smith') THEN
		        CREATE ROLE retention_smith LOGIN;
		    END IF;
		END $$;
		SELECT setseed(0.5) \gset
		CREATE TABLE events AS
		SELECT (random() * 200)::bigint AS user_id,
		       (random() * 80)::bigint AS item_id,
		       timestamptz '2024-01-01' + random() * interval '200 days' AS ts,
		       (ARRAY['view', 'click', 'cart', 'purchase'])[1 + floor(random() * 4)::int] AS event_type,
		       round((random() * 100)::numeric, 2) AS amount,
		       random() < 0.3 AS churned,
		       ARRAY[random(), random() * 10, random() - 0.5]::float8[] AS features,
		       ARRAY[random(), random()]::float4[] AS embedding
		  FROM generate_series(1, 3000);
		GRANT USAGE ON SCHEMA retention TO retention_smith;
		GRANT SELECT ON events TO retention_smith;
	SQL

	[ -n "$RETENTION_TMP" ] && log_before=$(wc -l <"$RETENTION_TMP/server.log")
	out=$(mktemp)
	timeout "$seconds" sqlsmith --exclude-catalog --seed=42 \
		--target="host=$PGHOST port=$PGPORT user=retention_smith dbname=retention_smith" \
		--verbose >"$out" 2>&1 || true

	crashes=0
	if [ -n "$RETENTION_TMP" ]; then
		crashes=$(tail -n +"$((log_before + 1))" "$RETENTION_TMP/server.log" |
			grep -c 'terminated by signal' || true)
		if [ "$crashes" -gt 0 ]; then
			tail -n +"$((log_before + 1))" "$RETENTION_TMP/server.log" |
				grep -B2 -A8 'terminated by signal' | head -60
		fi
	fi
	if ! psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
		log "the server does not answer after sqlsmith"
		crashes=$((crashes + 1))
	fi
	grep -E 'queries:' "$out" | tail -1 || true
	rm -f "$out"
	psql -X -q -d postgres -c 'SET client_min_messages = warning' \
		-c 'DROP DATABASE IF EXISTS retention_smith' -c 'DROP ROLE IF EXISTS retention_smith' >/dev/null 2>&1 || true

	if [ "$crashes" = 0 ]; then
		smith_passed=1
		log "sqlsmith: no server crash in $seconds seconds"
	else
		smith_failed=1
		log "sqlsmith: $crashes crash(es)"
	fi
}
