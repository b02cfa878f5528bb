#!/usr/bin/env bash
# Scenario G of scripts/bench: a fleet of 200 workers through PgBouncer in
# transaction mode, against a PostgreSQL with max_connections = 100.
#
#   fleet.sh RUN_DIR BIN
#
# Measures, idle and then draining 3,000 jobs under --global-qps 50 against a
# fake API that enforces 50 QPS: the connections held (client side at
# PgBouncer, server side at PostgreSQL), the transactions per second each idle
# worker costs the database, the share of the quota used and the throttles.
# Prints one "G|what|result|compared with" line per figure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../chaos.d/lib.sh"
cd "$REPO_ROOT"
run_dir=$1/fleet
bin=$2
stage=bench-fleet
rm -rf "$run_dir" && mkdir -p "$run_dir"
trap stage_cleanup EXIT
workers=200
jobs=3000
qps=50

VW_PG_MAX_CONNECTIONS=100 start_cluster main
quietly "$bin" migrate
start_pgbouncer transaction 20
start_fake "$bin" "$run_dir" --accept-token bench-token --qps "$qps" --latency 20ms
background_pids+=("$fake_pid")
export DINGTALK_BASE_URL="$fake_url" DINGTALK_ACCESS_TOKEN=bench-token LOG_LEVEL=warning

for n in $(seq 1 "$workers"); do
  DATABASE_URL="$bouncer_url" "$bin" run --pool-mode transaction --global-qps "$qps" --concurrency 2 --poll-interval 1s \
    --worker-id "fleet-$n" 2>>"$run_dir/workers.log" &
  worker_pid[$n]=$!
done
registered() { [ "$(sql "SELECT count(*) FROM visibility_workers")" -ge "$workers" ]; }
wait_for 120 registered || { say "only $(sql "SELECT count(*) FROM visibility_workers") of $workers workers registered"; exit 1; }

# Idle: what the fleet costs the database with nothing to do.
commits() { sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'"; }
server_connections() { sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name <> 'psql'"; }
bouncer_port=${bouncer_url##*:}
bouncer_port=${bouncer_port%%/*}
client_connections() { ss -Htn state established "( dport = :$bouncer_port )" | wc -l; }
sleep 5  # settle after the start-up burst (pacing, not synchronisation)
idle_before=$(commits)
idle_started=$(date +%s.%N)
sleep 20  # the idle measurement window itself
idle_after=$(commits)
idle_elapsed=$(awk -v a="$idle_started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
idle_tps=$(awk -v c=$((idle_after - idle_before)) -v t="$idle_elapsed" -v n="$workers" 'BEGIN { printf "%.2f", c / t / n }')
idle_servers=$(server_connections)
idle_clients=$(client_connections)

# Draining under the fleet's budget.
enqueue_jobs "$jobs" fleet
started=$(date +%s.%N)
max_servers=0
while ! jobs_done "$jobs"; do
  servers=$(server_connections)
  [ "$servers" -gt "$max_servers" ] && max_servers=$servers
  [ "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print (b - a > 600) }')" = 1 ] && break
  sleep 1
done
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
succeeded=$(count_state "'succeeded'")
stats=$(http_get "${fake_url##*:}" /__fake/stats)
throttled=$(grep -o '"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi":[0-9]*' <<<"$stats" | cut -d: -f2)
calls=$(grep -o '"calls":[0-9]*' <<<"$stats" | head -n 1 | cut -d: -f2)
used=$(awk -v n="$succeeded" -v t="$elapsed" -v q="$qps" 'BEGIN { printf "%.1f", n / t / q * 100 }')
echo "G|$workers workers through PgBouncer (transaction, 20 server connections), max_connections 100|$succeeded of $jobs succeeded, $((jobs - succeeded)) lost|"
echo "G|connections held: clients at PgBouncer / server sessions at PostgreSQL|$idle_clients / $idle_servers idle, at most $max_servers server sessions draining|max_connections 100"
echo "G|database transactions per second per idle worker|$idle_tps|poll every 1s, heartbeat every 10s"
echo "G|quota used while draining ($jobs jobs at --global-qps $qps)|$used %|throttled ${throttled:-0} of ${calls:-0} calls"
