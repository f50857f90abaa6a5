# shellcheck shell=bash
#
# test/upgrade/upgrade.sh: a 0.1.0 database filled with state of every kind
# is updated to the current version, then compared with a fresh install.
# Sourced by scripts/test once the cluster runs; counts its checks in
# upgrade_passed and upgrade_failed.
#
#   1. every C symbol that 0.1.0's install script names is still in
#      retention.so (0.1.0's objects call the new library between a package
#      upgrade and ALTER EXTENSION UPDATE);
#   2. 0.1.0, built from the release commit when the history holds it, is
#      installed and filled: events, a refresh (pipeline, runs, scores,
#      models of each kind in the registry), values of each binary type in
#      user tables;
#   3. ALTER EXTENSION retention UPDATE with the current build;
#   4. every member object (definition, privileges, comment) and the
#      configuration tables equal those of a fresh install;
#   5. the data is kept and gives the same results; a refresh succeeds and
#      continues the run ids.

# The commit that released 0.1.0.
RETENTION_0_1_0_COMMIT=6503ae362a8ab413a252f3870939e79d16564cd6

upgrade_passed=0
upgrade_failed=0

upgrade_check() { harness_check upgrade "$@"; }

upgrade_sql() { harness_sql "$@"; }

# Builds and installs 0.1.0's library and scripts from the release commit;
# returns 1 when the clone's history does not hold it.
upgrade_install_0_1_0() {
	local src
	git -C "$RETENTION_ROOT" cat-file -e "$RETENTION_0_1_0_COMMIT^{commit}" 2>/dev/null || return 1
	src=$(mktemp -d /tmp/retention-0.1.0.XXXXXX)
	git -C "$RETENTION_ROOT" archive "$RETENTION_0_1_0_COMMIT" | tar -x -C "$src"
	make -C "$src" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1 &&
		make -C "$src" -s PG_CONFIG="$PG_CONFIG" install >/dev/null 2>&1
	local status=$?
	rm -rf "$src"
	return $status
}

retention_upgrade() {
	local dir=$RETENTION_ROOT/test/upgrade/fixtures out so missing before after diffs first_run
	log "upgrade: 0.1.0 with data, updated, against a fresh install"
	out=$(mktemp -d /tmp/retention-upgrade.XXXXXX)

	# 1. the library keeps 0.1.0's symbols
	so="$("$PG_CONFIG" --pkglibdir)/retention.so"
	missing=$(comm -23 \
		<(grep -oE "'MODULE_PATHNAME', '[a-z0-9_]+'" "$RETENTION_ROOT/sql/retention--0.1.0.sql" |
			sed -E "s/.*, '([a-z0-9_]+)'/\1/" | sort -u) \
		<(nm -D --defined-only "$so" | awk '{ print $3 }' | sort -u) | tr '\n' ' ')
	upgrade_check "every C function of 0.1.0 is still in retention.so" "$missing" ""

	# 2. 0.1.0 with data; the released library when the history has it
	local released=1
	if ! upgrade_install_0_1_0; then
		released=0
		echo "# the release commit of 0.1.0 is not in this clone's history: its frozen script runs on the current library"
	fi
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS retention_upgraded" \
		-c "DROP DATABASE IF EXISTS retention_fresh" -c "CREATE DATABASE retention_upgraded" \
		-c "CREATE DATABASE retention_fresh" >/dev/null 2>&1
	RETENTION_DATABASES+=(retention_upgraded retention_fresh)
	upgrade_sql retention_upgraded -c "CREATE EXTENSION retention VERSION '0.1.0'" >/dev/null
	upgrade_sql retention_upgraded -f "$RETENTION_ROOT/test/loop/fixtures/synthetic_events.sql" >/dev/null
	upgrade_sql retention_upgraded -c "CALL retention.refresh()" >/dev/null 2>&1 || true
	upgrade_sql retention_upgraded -f "$dir/setup.sql" >/dev/null
	upgrade_sql retention_upgraded -f "$dir/values.sql" >"$out/before.txt"
	first_run=$(upgrade_sql retention_upgraded -c "SELECT max(run_id) FROM retention.refresh_runs")
	upgrade_check "0.1.0: a refresh filled scores" \
		"$(upgrade_sql retention_upgraded -c "SELECT count(*) > 0 FROM retention.customer_scores")" "t"

	# 3. the current build, and the update
	[ "$released" = 0 ] || retention_build_and_install
	upgrade_sql retention_upgraded -c "ALTER EXTENSION retention UPDATE" >/dev/null
	upgrade_check "ALTER EXTENSION retention UPDATE reaches the default version" \
		"$(upgrade_sql retention_upgraded -c "SELECT extversion = default_version FROM pg_extension, pg_available_extensions WHERE extname = 'retention' AND name = extname")" "t"

	# 4. the same objects as a fresh install
	upgrade_sql retention_fresh -c "CREATE EXTENSION retention" >/dev/null
	upgrade_sql retention_upgraded -f "$dir/catalog.sql" >"$out/upgraded.txt"
	upgrade_sql retention_fresh -f "$dir/catalog.sql" >"$out/fresh.txt"
	diffs=$(diff "$out/fresh.txt" "$out/upgraded.txt" | grep -c '^[<>]' || true)
	[ "$diffs" = 0 ] || diff "$out/fresh.txt" "$out/upgraded.txt" | head -40
	upgrade_check "updated objects equal a fresh install's ($(upgrade_sql retention_fresh -c "SELECT count(*) FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid AND d.refclassid = 'pg_extension'::regclass WHERE e.extname = 'retention' AND d.deptype = 'e'") objects)" "$diffs" "0"

	# 5. the data is kept and usable
	upgrade_sql retention_upgraded -f "$dir/values.sql" >"$out/after.txt"
	diffs=$(diff "$out/before.txt" "$out/after.txt" | grep -c '^[<>]' || true)
	[ "$diffs" = 0 ] || diff "$out/before.txt" "$out/after.txt" | head -20
	upgrade_check "stored models, values and results unchanged ($(wc -l <"$out/before.txt") checks)" "$diffs" "0"
	upgrade_sql retention_upgraded -c "CALL retention.refresh()" >/dev/null 2>&1 || true
	upgrade_check "a refresh after the update succeeds and continues the run ids" \
		"$(upgrade_sql retention_upgraded -c "SELECT bool_and(status = 'ok') AND min(run_id) > $first_run FROM retention.refresh_runs WHERE run_id > $first_run")" "t"
	rm -rf "$out"
}
