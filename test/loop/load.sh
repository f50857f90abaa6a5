# shellcheck shell=bash
#
# test/loop/load.sh: pgbench clients calling churn_prob, recommend and
# retention_rate while retention.refresh() rebuilds the models and scores
# they read.  Sourced by scripts/test; the check is zero failed or aborted
# transactions; the throughput is printed (see the README for figures).
#
# RETENTION_LOAD_SECONDS: how long pgbench runs (default 20; 0 skips).

load_passed=0
load_failed=0

retention_load() {
	local seconds=${RETENTION_LOAD_SECONDS:-20} out refreshes=0 refresh_errors=0 failed
	[ "$seconds" -gt 0 ] || return 0

	log "load: pgbench for $seconds seconds while refreshes run"
	retention_create_database retention_load
	psql -X -q -v ON_ERROR_STOP=1 -d retention_load -f test/loop/fixtures/synthetic_events.sql >/dev/null
	psql -X -q -d retention_load -c 'CALL retention.refresh()' >/dev/null

	out=$(mktemp)
	"$("$PG_CONFIG" --bindir)/pgbench" -n -d retention_load -c 4 -j 2 -T "$seconds" -P 5 \
		-f test/loop/load/churn_prob.sql@4 -f test/loop/load/recommend.sql@4 -f test/loop/load/retention_rate.sql@1 \
		>"$out" 2>&1 &
	local bench=$!
	while kill -0 "$bench" 2>/dev/null; do
		if psql -X -q -d retention_load -c 'CALL retention.refresh()' >/dev/null 2>&1; then
			refreshes=$((refreshes + 1))
		elif kill -0 "$bench" 2>/dev/null; then
			refresh_errors=$((refresh_errors + 1))
		fi
	done
	wait "$bench" || true
	grep -E '^(number of (transactions actually processed|failed transactions)|tps|latency average)|aborted|error' "$out" || true
	failed=$(grep -cE 'aborted|ERROR' "$out" || true)
	if grep -q '^number of transactions actually processed' "$out" && [ "$failed" = 0 ] && [ "$refresh_errors" = 0 ]; then
		load_passed=1
		log "load: no failed transaction; $refreshes refreshes ran meanwhile"
	else
		load_failed=1
		tail -20 "$out"
		log "load: $failed failed client(s), $refresh_errors failed refresh(es)"
	fi
	rm -f "$out"
}
