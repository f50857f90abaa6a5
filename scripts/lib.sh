# shellcheck shell=bash
#
# scripts/lib.sh: what scripts/demo, scripts/test and bench/run share.
#
# Installs missing Debian packages, builds and installs the extension, and
# starts a throwaway PostgreSQL 15 cluster (or uses the server named by
# PGHOST/PGPORT).  Source it; do not run it.
#
# Environment:
#   PG_CONFIG   pg_config of the server to build for
#               (default /usr/lib/postgresql/15/bin/pg_config)
#   PGHOST, PGPORT, PGUSER
#               when PGHOST or PGPORT is set, use that running server instead
#               of starting a throwaway cluster; the extension is still built
#               and installed into $PG_CONFIG's directories
#   RETENTION_SKIP_PACKAGES=1
#               do not look for or install Debian packages

set -euo pipefail

RETENTION_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG

# Everything the demo and the tests need, by Debian package name.
RETENTION_PACKAGES=(
	make gcc
	postgresql-15 postgresql-server-dev-15
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	postgresql-15-cron sqlsmith
	chromium python3
)

RETENTION_TMP=""
RETENTION_OWN_CLUSTER=0
RETENTION_KEEP=0
RETENTION_DATABASES=()

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# harness_check STAGE WHAT GOT WANT: one check of a shell harness, printed
# as TAP and counted in STAGE_passed or STAGE_failed
harness_check() {
	local stage=$1 what=$2 got=$3 want=$4
	if [ "$got" = "$want" ]; then
		printf -v "${stage}_passed" '%d' $((${stage}_passed + 1))
		echo "ok - $what"
	else
		printf -v "${stage}_failed" '%d' $((${stage}_failed + 1))
		echo "not ok - $what: got '$got', want '$want'"
	fi
}

# harness_sql DB PSQL-ARGS...: unaligned tuples only, stopping at the first error
harness_sql() {
	local db=$1
	shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# retention_install_packages [extra-package ...]
retention_install_packages() {
	local missing=() pkg
	[ "${RETENTION_SKIP_PACKAGES:-0}" = 1 ] && return 0
	if ! command -v dpkg-query >/dev/null 2>&1; then
		log "not a Debian system: install PostgreSQL 15 server headers, pgTAP and pg_prove yourself"
		return 0
	fi
	for pkg in "${RETENTION_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

retention_build_and_install() {
	[ -x "$PG_CONFIG" ] || command -v "$PG_CONFIG" >/dev/null 2>&1 ||
		die "PG_CONFIG=$PG_CONFIG not found; install postgresql-server-dev-15 or set PG_CONFIG"
	log "building the extension for $("$PG_CONFIG" --version)"
	make -C "$RETENTION_ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ] && [ -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
		make -C "$RETENTION_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
	else
		as_root make -C "$RETENTION_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
	fi
}

# Run a server binary as an unprivileged user: PostgreSQL refuses root.
run_as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		# from /: postgres may not enter the caller's folder (a clone in
		# /root), and initdb, pg_ctl and postgres complain when they cannot
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

port_is_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

retention_start_cluster() {
	local bindir port data

	trap retention_cleanup EXIT
	if [ -n "${PGHOST:-}${PGPORT:-}" ]; then
		export PGUSER=${PGUSER:-$(id -un)}
		log "using the running server at ${PGHOST:-local socket}:${PGPORT:-5432} as $PGUSER"
		return 0
	fi

	bindir=$("$PG_CONFIG" --bindir)
	RETENTION_TMP=$(mktemp -d /tmp/retention.XXXXXX)
	RETENTION_OWN_CLUSTER=1
	data="$RETENTION_TMP/data"

	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 ||
			useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		chown postgres: "$RETENTION_TMP"
	fi

	for port in $(shuf -i 20000-60000 -n 100); do
		port_is_free "$port" && break
	done

	log "starting a throwaway PostgreSQL cluster in $RETENTION_TMP on port $port"
	run_as_server_user "$bindir/initdb" -D "$data" -U postgres -A trust \
		-E UTF8 --no-locale >"$RETENTION_TMP/initdb.log" 2>&1 ||
		{ cat "$RETENTION_TMP/initdb.log" >&2; die "initdb failed"; }

	cat >>"$data/postgresql.conf" <<-CONF
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$RETENTION_TMP'
		max_connections = 50
		shared_buffers = 512MB
		work_mem = 64MB
		maintenance_work_mem = 256MB
		max_parallel_workers_per_gather = 2
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		log_min_messages = warning
	CONF
	if [ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ]; then
		cat >>"$data/postgresql.conf" <<-CONF
			shared_preload_libraries = 'pg_cron'
			cron.database_name = 'postgres'
		CONF
	fi

	run_as_server_user "$bindir/pg_ctl" -D "$data" -l "$RETENTION_TMP/server.log" \
		-w -t 60 start >/dev/null ||
		{ cat "$RETENTION_TMP/server.log" >&2; die "the server did not start"; }

	export PGHOST="$RETENTION_TMP" PGPORT="$port" PGUSER=postgres
}

# retention_create_database NAME: a fresh database with the extension in it
retention_create_database() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\"" >/dev/null
	RETENTION_DATABASES+=("$1")
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "CREATE EXTENSION retention" >/dev/null
}

retention_cleanup() {
	local db
	if [ "$RETENTION_OWN_CLUSTER" = 1 ]; then
		if [ "$RETENTION_KEEP" = 1 ]; then
			return 0
		fi
		run_as_server_user "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$RETENTION_TMP/data" \
			-m immediate stop >/dev/null 2>&1 || true
		rm -rf "$RETENTION_TMP"
	elif [ "$RETENTION_KEEP" != 1 ]; then
		for db in "${RETENTION_DATABASES[@]+"${RETENTION_DATABASES[@]}"}"; do
			psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
		done
	fi
}
