# Shared by the database-path stages of scripts/chaos (pgbouncer, hang,
# hung-path, failover): a cluster, the fake API, workers, bounded waits and the
# end-of-stage checks. Sourced after scripts/lib/common.sh; the stage sets
# `stage`, `bin` and `run_dir` first and calls `stage_cleanup` from its EXIT trap.

clusters=()
background_pids=()
declare -A worker_pid

stage_cleanup() {
  local pid
  for pid in "${worker_pid[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${background_pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
  stop_processes "${background_pids[@]}"
  local cluster
  for cluster in "${clusters[@]}"; do
    # A frozen server cannot stop: let it run again first.
    local postmaster
    postmaster=$(head -n 1 "$(readlink -f "$cluster")/cluster/postmaster.pid" 2>/dev/null || true)
    [ -n "$postmaster" ] && kill -CONT "$postmaster" $(pgrep -P "$postmaster") 2>/dev/null
    scripts/dev-postgres destroy "$cluster" >/dev/null 2>&1 || true
  done
}

# Polls CONDITION (a command) every 0.1 s for at most SECONDS; fails if it never holds.
wait_for() {
  local seconds=$1
  shift
  local tries=$((seconds * 10))
  for _ in $(seq 1 "$tries"); do
    "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# A throwaway cluster under .pgdata/chaos-STAGE-NAME; sets DATABASE_URL, data_dir and pg_port.
start_cluster() {
  local cluster="$REPO_ROOT/.pgdata/chaos-$stage-$1"
  scripts/dev-postgres destroy "$cluster" >/dev/null 2>&1 || true
  clusters+=("$cluster")
  DATABASE_URL=$(scripts/dev-postgres start "$cluster")
  export DATABASE_URL
  data_dir=$(readlink -f "$cluster")
  pg_port=$(cat "$data_dir/port")
}

# The postmaster's pid and its children's, for SIGSTOP/SIGCONT.
postgres_pids() {
  local postmaster
  postmaster=$(head -n 1 "$data_dir/cluster/postmaster.pid")
  echo "$postmaster" $(pgrep -P "$postmaster")
}

# PgBouncer (installed if missing) in front of $DATABASE_URL: MODE POOL_SIZE; sets bouncer_url.
start_pgbouncer() {
  local mode=$1 pool_size=$2
  command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
  local attempt
  for attempt in 1 2 3; do  # a free port may be taken by someone else before PgBouncer binds it
    try_pgbouncer "$mode" "$pool_size" && return 0
  done
  return 1
}

try_pgbouncer() {
  local mode=$1 pool_size=$2 dir="$run_dir/pgbouncer-$RANDOM" port
  port=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $mode
default_pool_size = $pool_size
max_client_conn = 2000
max_db_connections = $pool_size
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
  echo '"postgres" ""' >"$dir/users.txt"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  # As a daemon: its own pid file then names the process to stop (not a runuser in between).
  as_postgres "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$dir/pgbouncer.ini" >"$dir/stdout.log" 2>&1 \
    || { say "PgBouncer did not start:"; cat "$dir/stdout.log" "$dir/pgbouncer.log" >&2; return 1; }
  wait_for 10 test -s "$dir/pgbouncer.pid" || { say "PgBouncer wrote no pid file"; return 1; }
  background_pids+=("$(cat "$dir/pgbouncer.pid")")
  bouncer_url="postgresql://postgres@127.0.0.1:$port/postgres"
  wait_for 10 psql -qAt "$bouncer_url" -c "SELECT 1" >/dev/null || { say "PgBouncer does not answer"; cat "$dir/pgbouncer.log" >&2; return 1; }
}

# N jobs named PREFIX-1..N (opt_user_id), enqueued through DATABASE_URL or $2's URL.
enqueue_jobs() {
  local count=$1 prefix=$2 file="$run_dir/jobs-$2.csv"
  shift 2
  awk -v n="$count" -v p="$prefix" 'BEGIN { print "to_corp_ids,opt_user_id"; for (i = 1; i <= n; i++) printf "ding%d,%s-%d\n", i, p, i }' >"$file"
  "$bin" enqueue --file "$file" "$@" >/dev/null
}

# start_worker NAME URL ARGS...: a worker on URL, its stderr in $run_dir/NAME.log.
start_worker() {
  local name=$1 url=$2
  shift 2
  DATABASE_URL="$url" "$bin" run --worker-id "$stage-$name" --lease 5s --request-timeout 2s --backoff-base 100ms \
    --backoff-max 1s --poll-interval 200ms "$@" 2>>"$run_dir/$name.log" &
  worker_pid[$name]=$!
}

# Waits for worker NAME to exit within SECONDS; sets exit_status (124 if it did not).
wait_worker() {
  local name=$1 seconds=$2 pid=${worker_pid[$1]}
  if wait_for "$seconds" bash -c "! kill -0 $pid"; then
    exit_status=0
    wait "$pid" || exit_status=$?
  else
    exit_status=124
  fi
  unset "worker_pid[$name]"
}

count_state() { sql "SELECT count(*) FROM visibility_grant_jobs WHERE state IN ($1)"; }
jobs_done() { [ "$(count_state "'succeeded','failed'")" -ge "$1" ]; }

checks_failed=0
check() {
  local what=$1
  shift
  if "$@"; then echo "   ok: $what"; else echo "   FAILED: $what"; checks_failed=$((checks_failed + 1)); fi
}

# The end of a stage: every job of the table finished and succeeded, each applied by
# the fake at least once and at most once more than DUPLICATE_BOUND allows in total.
check_outcome() {
  local expected=$1 duplicate_bound=$2
  local rows succeeded applied distinct not_applied
  rows=$(sql "SELECT count(*) FROM visibility_grant_jobs")
  succeeded=$(count_state "'succeeded'")
  http_get "${fake_url##*:}" /__fake/applied | grep -o '"optUserId":"[^"]*"' | sed 's/"optUserId":"//; s/"$//' | sort >"$run_dir/applied.txt"
  sql "SELECT opt_user_id FROM visibility_grant_jobs WHERE state = 'succeeded' ORDER BY 1" | sort >"$run_dir/succeeded.txt"
  applied=$(wc -l <"$run_dir/applied.txt")
  distinct=$(sort -u "$run_dir/applied.txt" | wc -l)
  not_applied=$(comm -23 "$run_dir/succeeded.txt" <(sort -u "$run_dir/applied.txt") | wc -l)
  echo "   jobs: $rows rows, $succeeded succeeded; API applied $applied ($distinct distinct)"
  check "no row lost ($rows of $expected)" [ "$rows" -eq "$expected" ]
  check "every job succeeded ($succeeded of $expected)" [ "$succeeded" -eq "$expected" ]
  check "every succeeded job reached the API ($not_applied missing)" [ "$not_applied" -eq 0 ]
  check "duplicates $((applied - distinct)) within the bound $duplicate_bound" [ $((applied - distinct)) -le "$duplicate_bound" ]
}

finish_stage() {
  if [ "$checks_failed" -eq 0 ]; then
    echo "chaos $stage: PASS"
  else
    echo "chaos $stage: FAIL ($checks_failed checks; logs in $run_dir)"
    exit 1
  fi
}
