# Shared by stage "upgrade" of scripts/chaos and scenario O of scripts/bench: the
# write probe that measures how long an insert and a claim wait while `migrate`
# runs, and a timed `migrate`. Sourced after scripts/lib/common.sh and
# scripts/chaos.d/lib.sh (for background_pids, which its cleanup stops).

upgrade_d="$REPO_ROOT/scripts/chaos.d"

now() { date +%s.%N; }
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# start_probe DIR: from now on pgbench runs scripts/chaos.d/upgrade-probe.sql every
# 10 ms against $DATABASE_URL, one client, and logs each transaction (-l) under
# DIR/probe.*; with -R its latency counts from the scheduled start, so a wait shows
# in full even when it made later transactions late. -T is only a cap: stop_probe
# ends it. Sets probe_pid.
start_probe() {
  local dir=$1
  rm -rf "$dir" && mkdir -p "$dir"
  "$(postgres_bindir)/pgbench" -n -c 1 -R 100 -T 7200 -l --log-prefix="$dir/probe" \
    -f "$upgrade_d/upgrade-probe.sql" "$DATABASE_URL" >"$dir/pgbench.out" 2>&1 &
  probe_pid=$!
  background_pids+=("$probe_pid")
}

# stop_probe: SIGALRM is the signal pgbench's own -T timer sends itself: it
# finishes the transaction in flight, writes its log and summary, and exits 0.
# Sets probe_status (non-zero when a probe transaction failed: pgbench.out says why).
stop_probe() {
  kill -ALRM "$probe_pid" 2>/dev/null || true
  probe_status=0
  wait "$probe_pid" || probe_status=$?
}

# probe_figures DIR START END: "LONGEST_MS IN_WINDOW TOTAL" (scripts/chaos.d/upgrade_check.py).
probe_figures() { python3 "$upgrade_d/upgrade_check.py" probe "$@"; }

# timed_migrate LOG BIN ARGS...: `BIN migrate ARGS...` with its output in LOG;
# sets migrate_started and migrate_finished (Unix seconds) and migrate_status.
timed_migrate() {
  local log=$1 binary=$2
  shift 2
  migrate_started=$(now)
  migrate_status=0
  "$binary" migrate "$@" >"$log" 2>&1 || migrate_status=$?
  migrate_finished=$(now)
}
