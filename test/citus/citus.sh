# shellcheck shell=bash
#
# test/citus/citus.sh: the extension on a real Citus cluster (one coordinator,
# two workers on loopback), against the answers of a single node.  Sourced by
# scripts/test once its cluster runs; counts its checks in citus_passed and
# citus_failed.  Also runs on its own: bash test/citus/citus.sh
#
#   1. builds Citus 13.2.2 from ../shared/vendor (relative to the repository
#      root) into $PG_CONFIG's tree when citus.so is not there; skips, saying
#      so, only when that source is absent;
#   2. starts a coordinator and two workers (initdb each, citus preloaded) on
#      free loopback ports in a throwaway folder, creates citus and retention
#      on all three and adds the workers;
#   3. runs the suites of test/citus/sql/ through pg_prove: every aggregate
#      of the extension on local and distributed copies of the same events,
#      the plans Citus makes for them, the wrappers and the nightly loop;
#   4. stops the three servers and removes their files.
#
# RETENTION_CITUS_KEEP=1 leaves the cluster running (it prints how to reach
# it); RETENTION_CITUS_VENDOR overrides the vendor folder.

citus_passed=0
citus_failed=0
CITUS_TMP=""
CITUS_PORTS=()

citus_node_ctl() {
	run_as_server_user "$("$PG_CONFIG" --bindir)/pg_ctl" "$@"
}

# citus_free_ports N: N distinct free loopback ports
citus_free_ports() {
	local want=$1 port
	CITUS_PORTS=()
	for port in $(shuf -i 20000-60000 -n 200); do
		[[ " ${CITUS_PORTS[*]} " == *" $port "* ]] && continue
		port_is_free "$port" && CITUS_PORTS+=("$port")
		[ ${#CITUS_PORTS[@]} -ge "$want" ] && return 0
	done
	return 1
}

# Installs Citus into $PG_CONFIG's tree from the vendor source; returns 2
# when the source is absent, 1 when the build fails.
citus_ensure_installed() {
	local vendor=${RETENTION_CITUS_VENDOR:-$RETENTION_ROOT/../shared/vendor}
	if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
		return 0
	fi
	if [ ! -x "$vendor/build-citus.sh" ] || [ ! -f "$vendor/citus-13.2.2.tar.gz" ]; then
		return 2
	fi
	log "citus: building Citus 13.2.2 from $vendor (3 to 10 minutes)"
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ] && [ -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
		PG_CONFIG="$PG_CONFIG" "$vendor/build-citus.sh"
	else
		as_root env PG_CONFIG="$PG_CONFIG" "$vendor/build-citus.sh"
	fi
}

citus_cluster_start() {
	local bindir node port i
	bindir=$("$PG_CONFIG" --bindir)
	CITUS_TMP=$(mktemp -d /tmp/retention-citus.XXXXXX)
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 ||
			useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		chown postgres: "$CITUS_TMP"
	fi
	citus_free_ports 3 || die "citus: no free loopback ports"
	for i in 0 1 2; do
		node=$CITUS_TMP/node$i
		port=${CITUS_PORTS[$i]}
		run_as_server_user "$bindir/initdb" -D "$node" -U postgres -A trust \
			-E UTF8 --no-locale >"$CITUS_TMP/initdb$i.log" 2>&1 ||
			{ cat "$CITUS_TMP/initdb$i.log" >&2; die "citus: initdb failed"; }
		cat >>"$node/postgresql.conf" <<-CONF
			port = $port
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$CITUS_TMP'
			shared_preload_libraries = 'citus'
			max_connections = 100
			shared_buffers = 128MB
			work_mem = 64MB
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			log_min_messages = warning
			citus.shard_count = 8
		CONF
		citus_node_ctl -D "$node" -l "$CITUS_TMP/node$i.log" -w -t 60 start >/dev/null ||
			{ cat "$CITUS_TMP/node$i.log" >&2; die "citus: node $i did not start"; }
	done
	for i in 0 1 2; do
		citus_psql_node "${CITUS_PORTS[$i]}" -c "CREATE EXTENSION citus" >/dev/null
	done
	citus_psql -c "SELECT citus_set_coordinator_host('127.0.0.1', ${CITUS_PORTS[0]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[1]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[2]})" >/dev/null
	# the workers are known now, so Citus creates retention on them too
	citus_psql -c "CREATE EXTENSION retention" -c "CREATE EXTENSION pgtap" >/dev/null
}

citus_cluster_stop() {
	local i
	[ -n "$CITUS_TMP" ] || return 0
	if [ "${RETENTION_CITUS_KEEP:-0}" = 1 ]; then
		log "citus: cluster kept in $CITUS_TMP; coordinator: psql -h $CITUS_TMP -p ${CITUS_PORTS[0]} -U postgres"
		return 0
	fi
	for i in 2 1 0; do
		citus_node_ctl -D "$CITUS_TMP/node$i" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$CITUS_TMP"
	CITUS_TMP=""
}

citus_psql_node() {
	local port=$1
	shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$CITUS_TMP" -p "$port" -U postgres -d postgres "$@"
}

# psql on the coordinator
citus_psql() {
	citus_psql_node "${CITUS_PORTS[0]}" "$@"
}

retention_citus() {
	local status total failed dubious started
	started=$(date +%s)
	log "citus: a coordinator and two workers, every aggregate local and distributed"
	set +e
	citus_ensure_installed
	status=$?
	set -e
	if [ "$status" = 2 ]; then
		log "citus: SKIPPED, Citus is not installed and its source (../shared/vendor/citus-13.2.2.tar.gz) is absent"
		return 0
	elif [ "$status" != 0 ]; then
		citus_failed=1
		return 0
	fi

	citus_cluster_start
	trap 'citus_cluster_stop; retention_cleanup' EXIT
	(cd "$RETENTION_ROOT" && citus_psql -f test/citus/sql/setup.psql >/dev/null)
	set +e
	(cd "$RETENTION_ROOT" &&
		pg_prove -h "$CITUS_TMP" -p "${CITUS_PORTS[0]}" -U postgres -d postgres \
			--ext .psql test/citus/sql/[0-9]*.psql) | tee "$CITUS_TMP/prove.log"
	status=${PIPESTATUS[0]}
	set -e
	total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$CITUS_TMP/prove.log")
	failed=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$CITUS_TMP/prove.log" |
		awk '{ s += $1 } END { print s + 0 }')
	dubious=$(grep -cE 'Dubious|Parse errors|No subtests run' "$CITUS_TMP/prove.log" || true)
	citus_passed=$((${total:-0} - failed))
	citus_failed=$((failed + dubious))
	if [ "$status" != 0 ] && [ "$citus_failed" = 0 ]; then
		citus_failed=1
	fi
	citus_cluster_stop
	trap retention_cleanup EXIT
	log "citus: $citus_passed passed, $citus_failed failed in $(($(date +%s) - started)) s"
}

# Run on its own: build and install the extension, then the stage.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
	retention_install_packages
	retention_build_and_install
	cd "$RETENTION_ROOT"
	trap 'citus_cluster_stop' EXIT
	retention_citus
	echo "citus: $citus_passed passed, $citus_failed failed"
	[ "$citus_failed" = 0 ]
fi
