#!/usr/bin/env bash
#
# bench/citus.sh: the extension on a 1 + 2 Citus cluster on this machine
# (test/citus/citus.sh starts it): BENCH_CITUS_EVENTS events (default 10
# million, 200,000 users, one year) in a local table on the coordinator and
# distributed by user_id, then bench/citus.sql: bytes shipped to the
# coordinator per aggregate and wrapper, and the time ratio to one node.
#   PG_CONFIG=... bench/citus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source test/citus/citus.sh
events=${BENCH_CITUS_EVENTS:-10000000}
retention_build_and_install
citus_ensure_installed
trap citus_cluster_stop EXIT
citus_cluster_start
log "citus bench: $events events"
citus_psql -v events="$events" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE events_local (user_id bigint, item_id bigint, ts timestamptz, event_type text, amount numeric);
INSERT INTO events_local
SELECT 1 + (hashint4(i) & 2147483647) % 200000,
       1 + ((hashint4(i * 3) & 2147483647) % 2000) * ((hashint4(i * 5) & 2147483647) % 2000) / 2000,
       timestamptz '2024-01-01' + ((hashint4(i * 7) & 2147483647) % (366 * 86400)) * interval '1 second',
       (ARRAY['view', 'view', 'view', 'click', 'cart', 'purchase'])[1 + (hashint4(i * 11) & 2147483647) % 6],
       ((hashint4(i * 13) & 2147483647) % 10000) / 100.0
  FROM generate_series(1, :events) i;
CREATE TABLE events (LIKE events_local);
SELECT create_distributed_table('events', 'user_id');
INSERT INTO events SELECT * FROM events_local;
VACUUM ANALYZE events_local;
VACUUM ANALYZE events;
SELECT pg_size_pretty(pg_total_relation_size('events_local')) AS events_size;
SQL
citus_psql -P format=aligned -P tuples_only=off -f bench/citus.sql
